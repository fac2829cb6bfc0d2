"""What copiers work on: batches of keys, and what becomes of each batch in the job table.

A batch id names one set of keys for ever. The coordinator records a batch (``BatchRecord``,
state ``defined``, with the digest of its items) before it sends it; counting it turns the
record ``counted`` exactly once, and only if the message's digest is the record's, so a message
that no longer matches its record (a re-listing found the source changed) is never counted.
Message bodies are JSON with every non-ASCII character escaped, so any key S3 accepts travels
through SQS, whose bodies refuse some characters (U+FFFE, U+FFFF, most C0 controls).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from s3migrator.failures import FailureRecord
from s3migrator.models import CopySpec
from s3migrator.selection import ARCHIVED_CLASSES, Tally

SHARDS = 16  # counter shards per job: the job's counting writes spread over this many items


# Classes a copy does not keep: STANDARD is S3's default, and an archived object (copied once it
# is restored) lands readable, in the destination's default class.
NOT_KEPT_CLASSES = frozenset({"STANDARD"}) | ARCHIVED_CLASSES


def kept_class(storage_class: str | None) -> str | None:
    """The storage class a copy is given: the source's, but for those it does not keep."""
    return storage_class if storage_class and storage_class not in NOT_KEPT_CLASSES else None


class WorkItem(BaseModel):
    """One source object to copy, as the listing saw it. ``storage_class`` is given only when
    it is not STANDARD, and left out of the JSON when absent, so most items cost nothing more.

    With ``delete``, the item is a destination object a sync found missing from the source (its
    key given as the source key it would have, its size and ETag the destination's), to delete.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    size: int = Field(ge=0)
    etag: str
    storage_class: str | None = Field(default=None, max_length=32)
    delete: bool = False
    # A job copying every version: the version to copy, or a delete marker to reproduce.
    version_id: str | None = Field(default=None, max_length=1024)
    marker: bool = False
    # Archived, to be restored before it is copied (a job's archived "restore").
    restore: bool = False
    # Its transient failures in the batches before this one: its own count, since a remainder
    # also carries objects that only waited for their restore.
    tries: int = Field(default=0, ge=0)

    @property
    def attempt(self) -> int:
        """Which attempt at this object the batch carrying it makes (1 for the first)."""
        return self.tries + 1

    def failure(
        self, code: str, message: str, *, attempts: int, http_status: int | None = None
    ) -> FailureRecord:
        """Why this item could not be copied, with what a redrive needs to send it again."""
        return FailureRecord(
            key=self.key,
            code=code,
            message=message,
            http_status=http_status,
            attempts=attempts,
            size=self.size,
            etag=self.etag,
            storage_class=self.storage_class,
            delete=self.delete,
            version_id=self.version_id,
            marker=self.marker,
            restore=self.restore,
        )

    @property
    def bytes_to_copy(self) -> int:
        """What the item adds to a job's bytes: its size, but for a deletion (none copied)."""
        return 0 if self.delete else self.size

    @model_serializer(mode="wrap")
    def _without_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in ("storage_class", "version_id"):
            if data.get(name) is None:
                data.pop(name, None)
        for name in ("delete", "marker", "restore", "tries"):
            if not data.get(name):
                data.pop(name, None)
        return data


def batch_digest(items: list[WorkItem]) -> str:
    """What identifies a batch's content: its keys, sizes and ETags, in order (and which are
    deletions)."""
    text = "\n".join(
        f"{i.key}\t{i.size}\t{i.etag}"
        + ("\tdelete" if i.delete else "")
        + (f"\t{i.version_id}" if i.version_id is not None else "")
        + ("\tmarker" if i.marker else "")
        + ("\trestore" if i.restore else "")
        for i in items
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def shard_of(batch_id: str) -> int:
    """The counter shard a batch is counted in (and its record kept in)."""
    return zlib.crc32(batch_id.encode()) % SHARDS


class WorkBatch(BaseModel):
    """Many keys in one SQS message.

    ``attempt`` counts the deliveries of these keys across remainder batches (a batch whose
    objects failed transiently is counted with the rest, and those objects go on alone in a
    remainder batch with ``attempt + 1``). ``epoch`` is the job's run: 0, or the redrive's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["keys"] = "keys"
    batch_id: str
    spec: CopySpec
    items: list[WorkItem]
    digest: str = ""
    attempt: int = Field(default=1, ge=1)
    epoch: int = Field(default=0, ge=0)
    # Items of a redrive batch were counted as failed; copying one moves it to copied.
    redrive: bool = False
    # Times its objects waited for their restore (each wait a remainder, ``~A.wN``).
    waits: int = Field(default=0, ge=0)
    # Sent again by a coordinator (the run that sent it first may have died before its
    # checkpoint), or replacing a batch that may have been copied in part: an earlier delivery
    # may have copied its objects, although SQS counts this message's first receive. Left out
    # of the JSON when False.
    resent: bool = False

    @model_serializer(mode="wrap")
    def _without_first_send(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not data.get("resent"):
            data.pop("resent", None)
        if not data.get("waits"):
            data.pop("waits", None)
        return data

    @classmethod
    def of(
        cls,
        batch_id: str,
        spec: CopySpec,
        items: list[WorkItem],
        *,
        attempt: int = 1,
        epoch: int = 0,
        redrive: bool = False,
    ) -> WorkBatch:
        """A batch with its digest filled in."""
        return cls(
            batch_id=batch_id,
            spec=spec,
            items=items,
            digest=batch_digest(items),
            attempt=attempt,
            epoch=epoch,
            redrive=redrive,
        )

    def body(self) -> str:
        """The SQS message body: compact JSON, ASCII only (see the module's docstring)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))

    @property
    def job_id(self) -> str:
        return self.spec.job_id


class BatchState(StrEnum):
    DEFINED = "defined"  # recorded, not yet counted
    COUNTED = "counted"  # its outcome is in the counters, once
    VOID = "void"  # replaced before it was counted (its range changed at the source)


class BatchOutcome(BaseModel):
    """What counting a batch records: decided objects only (the rest go on in a remainder)."""

    copied: list[WorkItem] = []
    bytes_copied: int = 0
    failures: list[FailureRecord] = []
    # Destination objects deleted (a sync's ``delete_extra``).
    deleted: list[WorkItem] = []
    # How many of the copies S3's answer verified (``copier.objects.Copied``).
    verified: int = 0


class BatchRecord(BaseModel):
    """A batch as the job table keeps it."""

    batch_id: str
    state: BatchState
    digest: str
    epoch: int = 0
    attempt: int = 1
    count: int = 0
    bytes: int = 0
    # Listing batches: the listing range they were cut from (after, last], to list them again.
    after: str | None = None
    last: str | None = None
    # Batches not cut from a listing (remainders, redrives, replacements) carry their items.
    items: list[WorkItem] | None = None
    redrive: bool = False
    # Once counted.
    copied: int = 0
    failures: list[FailureRecord] = []
    remainder: str | None = None
    # A copier that has held the batch long claims it, so it is not taken for dead meanwhile.
    claim_owner: str | None = None
    claim_until: float = 0.0
    # A void batch: how many batches replaced it (ids ``{batch_id}+0`` and on).
    replacements: int = 0
    # A listing batch: what the listing left out in its range.
    tally: Tally = Tally()
    waits: int = 0

    def carried(self, spec: CopySpec, *, resent: bool = False) -> WorkBatch:
        """The batch to send again, as it was defined (for a batch that carries its items)."""
        assert self.items is not None
        return WorkBatch(
            batch_id=self.batch_id,
            spec=spec,
            items=self.items,
            digest=self.digest,
            attempt=self.attempt,
            epoch=self.epoch,
            redrive=self.redrive,
            resent=resent,
            waits=self.waits,
        )
