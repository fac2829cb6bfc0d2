"""What a job asks of every copy (carried in each batch's spec, read by the copiers).

Unset fields keep the copier's defaults and the source's properties: a copy keeps the source's
storage class and Object Lock settings, and its ACL is the destination's (the destination account
owns what it holds).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# S3's storage classes a copy may be written in (the archived ones included: a job may archive
# what it copies).
StorageClass = Literal[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
]
ChecksumAlgorithm = Literal["CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256"]


class RestoreRequest(BaseModel):
    """How an archived object is restored before it is copied (S3's RestoreObject)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(default=7, ge=1, le=30)
    tier: Literal["Standard", "Bulk", "Expedited"] = "Standard"


class JobOptions(BaseModel):
    """Per-job overrides of copier defaults; unset fields take the copier's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    multipart_threshold_bytes: int | None = Field(default=None, ge=5 * 1024**2, le=5 * 1024**3)
    part_size_bytes: int | None = Field(default=None, ge=5 * 1024**2, le=5 * 1024**3)
    # Every copy written in this class, instead of the source's.
    storage_class: StorageClass | None = None
    # The checksum S3 computes and stores with every copy, instead of its default.
    checksum_algorithm: ChecksumAlgorithm | None = None
    # Copy each object's ACL grants (where the destination's ownership controls allow ACLs).
    copy_acl: bool = False
    # The source bucket is requester-pays: the job's account pays for reading it.
    requester_pays: bool = False
    # "keep": each copy keeps its source's Object Lock retention (mode and retain-until date)
    # and legal hold, and an object whose destination has no Object Lock fails rather than lose
    # them; "ignore": copies carry none (the destination's default retention applies, if any).
    object_lock: Literal["keep", "ignore"] = "keep"

    def source_payer(self) -> dict[str, Any]:
        """``RequestPayer`` for a request that lists or reads the source, when the job pays."""
        return {"RequestPayer": "requester"} if self.requester_pays else {}
