"""A huge object copied by many copiers at once: its upload and its part batches.

An object of ``split_object_bytes`` or more travels alone in its batch (the parent). The copier
that takes the parent starts one multipart upload for it and records it (``UploadRecord``,
keyed by the parent's batch id); the object's parts are then cut into part batches
(``PartBatch``, ids ``{parent}.p0001`` and on), each a message of its own that any copier
takes. How the parts are cut is recorded with the upload (its part size and parts per batch),
so every copier plans the same part batches whatever its own settings.

A part batch message carries no upload id, key or range: the record says them, so a message
can only name parts of an upload a copier started.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from s3migrator.failures import FailureRecord
from s3migrator.models import CopySpec
from s3migrator.work import WorkBatch, WorkItem


def part_batch_id(parent: str, index: int) -> str:
    """The id of a parent's ``index``-th part batch (1-based): one range of parts for ever."""
    return f"{parent}.p{index:04d}"


class PartBatch(BaseModel):
    """One range of a huge object's parts, to be copied into its recorded upload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["parts"] = "parts"
    batch_id: str
    spec: CopySpec
    parent: str
    index: int = Field(ge=1)
    # Its deliveries after transient failures (each a new message under the same id).
    attempt: int = Field(default=1, ge=1)

    @classmethod
    def of(cls, parent: WorkBatch, index: int, *, attempt: int = 1) -> PartBatch:
        return cls(
            batch_id=part_batch_id(parent.batch_id, index),
            spec=parent.spec,
            parent=parent.batch_id,
            index=index,
            attempt=attempt,
        )

    def body(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))

    @property
    def job_id(self) -> str:
        return self.spec.job_id


# A work message is a batch of keys or a part batch, told apart by ``kind``.
Work = Annotated[WorkBatch | PartBatch, Field(discriminator="kind")]
WORK = TypeAdapter(Work)


class UploadState(StrEnum):
    OPEN = "open"  # parts being copied
    COMPLETED = "completed"  # the object is in place, its parent counted copied
    ABORTED = "aborted"  # the upload is gone, its parent counted failed


class UploadRecord(BaseModel):
    """A huge object's upload as the job table keeps it."""

    parent: WorkBatch
    # The object as copied: the parent's, or its current version if it changed before the
    # upload began (as a single copier copies it).
    item: WorkItem
    upload_id: str
    part_size: int
    per_batch: int
    total: int  # part batches
    state: UploadState = UploadState.OPEN
    done: frozenset[int] = frozenset()
    sent: bool = False
    # The source's checksum of its whole object, which the completion must name.
    checked_algorithm: str | None = None
    checked_value: str | None = None
    # Why the object failed, once a part failed for good (or the job ended): the upload is to
    # be aborted and the parent counted failed.
    failure: FailureRecord | None = None
    # Who completes it, while its parts are all done (a claim that runs out).
    completer: str | None = None
    completer_until: float = 0.0

    @property
    def all_done(self) -> bool:
        return len(self.done) >= self.total

    @property
    def job_id(self) -> str:
        return self.parent.job_id


class PartRecord(BaseModel):
    """A part batch as the job table keeps it: who copies it, and its parts once done."""

    batch_id: str
    done: bool = False
    # Each part as CompleteMultipartUpload takes it back (PartNumber, ETag, checksum).
    parts: list[dict[str, str | int]] = []
    claim_owner: str | None = None
    claim_until: float = 0.0
