"""Copying a key's history: every version, oldest first, delete markers reproduced.

A job with ``"versions": "all"`` sends each key's versions in one batch, in order, and one
copier writes them one after the other (the batch claimed from the start, so no second
delivery writes beside it), so the destination's versions come in the source's order. A
delivery may come again after some of them were written (its answer lost): before writing, the
key's versions at the destination are listed once, and for a batch delivered before, the
longest run of its versions already at the end (same kind, size and, where ETags can tell,
ETag) is not written again. Under the ``never`` rule, a key that holds anything on a first
delivery is not touched and its versions fail as ``DestinationExists``; a redrive appends what
failed after what is there.

A version failing transiently stops its key there: the whole history goes on in the remainder
batch (the versions written already are found at the destination and count as copied then). A
version failing for good fails the versions after it, which cannot be written out of order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from copier.overwrite import exists_error
from s3migrator.aws_errors import translate
from s3migrator.errors import PermanentError, TransientError
from s3migrator.histories import oldest_first
from s3migrator.models import CopySpec, Overwrite

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.work import WorkBatch, WorkItem

Outcome = int | BaseException
VERSION_ORDER = "VersionOrder"


def destination_history(s3: S3Client, spec: CopySpec, key: str) -> list[dict[str, Any]]:
    """The destination key's versions and delete markers, oldest first."""
    versions: list[Any] = []
    markers: list[Any] = []
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=spec.destination.bucket, Prefix=key, **spec.destination.expected_owner()
    )
    for page in pages:
        versions += [v for v in page.get("Versions", []) if v["Key"] == key]
        markers += [m for m in page.get("DeleteMarkers", []) if m["Key"] == key]
        if page.get("NextKeyMarker", key) > key:
            break  # the keys that follow only share the prefix
    return oldest_first(versions, markers)


def holds_version(spec: CopySpec, entry: dict[str, Any], item: WorkItem) -> bool:
    """Whether a destination version is this item's copy, as far as a listing can tell (a
    copy made in parts, or under SSE-KMS, has an ETag of its own)."""
    if item.marker or entry.get("DeleteMarker"):
        return bool(item.marker and entry.get("DeleteMarker"))
    if entry["Size"] != item.size:
        return False
    plain = "-" not in item.etag and "-" not in entry["ETag"] and not spec.destination.kms_key_id
    return entry["ETag"] == item.etag or not plain


def already_written(spec: CopySpec, there: list[dict[str, Any]], history: list[WorkItem]) -> int:
    """How many of ``history``'s first versions end the destination's history already."""
    for count in range(min(len(there), len(history)), 0, -1):
        tail = there[len(there) - count :]
        if all(holds_version(spec, e, i) for e, i in zip(tail, history[:count], strict=True)):
            return count
    return 0


def copy_history(
    s3: S3Client,
    copy: Callable[[CopySpec, WorkItem], int],
    spec: CopySpec,
    history: list[WorkItem],
    *,
    append: bool,
    repeat: bool = True,
    last_attempt: bool = False,
) -> list[Outcome]:
    """Write a key's versions in order; the outcome of each (bytes copied, or its error).

    ``copy`` copies one version (CopyObject or a multipart copy naming its VersionId);
    ``append``: a redrive's versions, written after whatever the destination holds;
    ``repeat``: the batch was delivered before, so some of its versions may be written
    already (on a first delivery none are, whatever the destination holds); ``last_attempt``:
    no remainder follows, so a transient failure stops the key as a permanent one does, the
    versions written before it counted as copied.
    """
    key = spec.destination_key(history[0].key)
    try:
        there = destination_history(s3, spec, key)
    except Exception as exc:
        return [exc] * len(history)
    done = already_written(spec, there, history) if repeat else 0
    outcomes: list[Outcome] = [item.size for item in history[:done]]
    guarded = not there and spec.overwrite is Overwrite.NEVER
    if there and not done and not append and spec.overwrite is Overwrite.NEVER:
        return outcomes + [exists_error(key)] * (len(history) - done)
    # Only the first write into an empty key is conditional; the versions after it add to it.
    appending = spec.model_copy(update={"overwrite": Overwrite.ALWAYS})
    for n, item in enumerate(history[done:], start=done):
        try:
            if item.marker:
                s3.delete_object(
                    Bucket=spec.destination.bucket, Key=key, **spec.destination.expected_owner()
                )
                outcomes.append(0)
            else:
                outcomes.append(copy(spec if guarded and n == 0 else appending, item))
        except Exception as exc:
            return _stopped(history, outcomes, n, exc, last_attempt)
    return outcomes


def _stopped(
    history: list[WorkItem], outcomes: list[Outcome], n: int, exc: Exception, last: bool
) -> list[Outcome]:
    """Every version's outcome once version ``n`` failed with ``exc`` (on the ``last``
    attempt, or not)."""
    if isinstance(translate(exc), TransientError) and not last:
        # The whole history goes on, those written first included: they are found then.
        again = TransientError(VERSION_ORDER, f"a version of this key failed transiently: {exc}")
        return [again for _ in history]
    after = PermanentError(
        VERSION_ORDER,
        f"not copied: version {history[n].version_id} of this key failed before it ({exc}),"
        " and versions are written in order",
    )
    return [*outcomes, exc, *[after] * (len(history) - n - 1)]


def versioned(batch: WorkBatch) -> bool:
    """A batch of a job copying every version: its keys' histories, written in order."""
    return any(item.version_id is not None or item.marker for item in batch.items)


def nth(task: Future[list[Outcome]], n: int) -> Future[int]:
    """The outcome of the ``n``th version of a history task, as a future of its own."""
    item: Future[int] = Future()

    def settle(done: Future[list[Outcome]]) -> None:
        error = done.exception()
        outcome = error if error is not None else done.result()[n]
        if isinstance(outcome, BaseException):
            item.set_exception(outcome)
        else:
            item.set_result(outcome)

    task.add_done_callback(settle)
    return item
