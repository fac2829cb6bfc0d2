"""Pure batching policy: many keys per SQS message, bounded by count and by bytes.

SQS bills per 64 KiB chunk and caps a message (and a whole SendMessageBatch) at a configurable
size, so a batch is closed when either the key count or its serialized size would exceed a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from s3migrator.models import CopySpec, WorkBatch, WorkItem
from s3migrator.sqs.queues import MAX_ENTRIES_PER_SEND


def batch_id(job_id: str, seq: int, *, redrive: bool = False) -> str:
    """Deterministic: the same listing position always yields the same id.

    Redrive batches are numbered in their own series (``r``), after the job's earlier redrives.
    """
    return f"{job_id}:{'r' if redrive else ''}{seq:09d}"


def item_bytes(item: WorkItem) -> int:
    """Serialized size of one item inside the batch's ``items`` array, comma included."""
    return len(item.model_dump_json().encode()) + 1


def empty_batch_bytes(spec: CopySpec, seq: int, *, redrive: bool = False) -> int:
    empty = WorkBatch(
        batch_id=batch_id(spec.job_id, seq, redrive=redrive), spec=spec, items=[], redrive=redrive
    )
    return len(empty.model_dump_json().encode())


def pack(
    items: Iterable[WorkItem],
    spec: CopySpec,
    *,
    first_seq: int,
    max_keys: int,
    max_bytes: int,
    redrive: bool = False,
) -> Iterator[WorkBatch]:
    """Stream items into batches numbered from ``first_seq``; constant memory in the listing."""

    def close(seq: int, items: list[WorkItem]) -> WorkBatch:
        return WorkBatch(
            batch_id=batch_id(spec.job_id, seq, redrive=redrive),
            spec=spec,
            items=items,
            redrive=redrive,
        )

    seq = first_seq
    current: list[WorkItem] = []
    size = base = empty_batch_bytes(spec, seq, redrive=redrive)
    for item in items:
        extra = item_bytes(item)
        if base + extra > max_bytes:
            raise ValueError(f"key {item.key!r} alone exceeds the message cap of {max_bytes} bytes")
        if current and (len(current) >= max_keys or size + extra > max_bytes):
            yield close(seq, current)
            seq += 1
            current = []
            size = base = empty_batch_bytes(spec, seq, redrive=redrive)
        current.append(item)
        size += extra
    if current:
        yield close(seq, current)


def group_for_send(
    bodies: Iterable[str], *, max_total_bytes: int, max_entries: int = MAX_ENTRIES_PER_SEND
) -> Iterator[list[str]]:
    """Group message bodies into SendMessageBatch calls within the entry and total-size caps."""
    group: list[str] = []
    total = 0
    for body in bodies:
        size = len(body.encode())
        if group and (len(group) >= max_entries or total + size > max_total_bytes):
            yield group
            group, total = [], 0
        group.append(body)
        total += size
    if group:
        yield group
