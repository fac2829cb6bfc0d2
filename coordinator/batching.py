"""Pure batching policy: many keys per SQS message, bounded by count and by bytes.

SQS bills per 64 KiB chunk and caps a message (and a whole SendMessageBatch) at a configurable
size, so a batch is closed when either the key count or its serialized size would exceed a limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TypedDict

from s3migrator.failures import RECORD_BYTES, reserved_bytes
from s3migrator.models import CopySpec
from s3migrator.settings import Settings
from s3migrator.sqs.queues import MAX_ENTRIES_PER_SEND
from s3migrator.work import WorkBatch, WorkItem


def batch_id(job_id: str, seq: int, *, redrive: bool = False, shard: int | None = None) -> str:
    """Deterministic: the same listing position always yields the same id.

    Redrive batches are numbered in their own series (``r``), after the job's earlier redrives;
    each listing shard of a sharded job in its own (``s003-``), so no two shards share an id.
    """
    if shard is not None:
        return f"{job_id}:s{shard:03d}-{seq:09d}"
    return f"{job_id}:{'r' if redrive else ''}{seq:09d}"


def item_bytes(item: WorkItem) -> int:
    """Size of one item inside the body's ``items`` array, comma included (ASCII JSON, as
    ``WorkBatch.body`` writes it: a non-ASCII character takes up to twelve bytes there)."""
    return len(json.dumps(item.model_dump(), ensure_ascii=True, separators=(",", ":"))) + 1


# What a batch may grow by after it is packed: a remainder's or a replacement's longer id
# (``~N``, ``+N``, ``.wN``), a larger attempt number, its ``waits`` and the ``resent`` flag.
# Reserved, so that such a batch still fits.
GROWTH_BYTES = 64
# What each item may grow by in a remainder: its transient failures so far (``"tries"``, fewer
# than ``Settings.max_item_attempts``, at most 100).
TRIES_BYTES = len(',"tries":99')


def grown_item_bytes(item: WorkItem) -> int:
    """An item's bytes in the body (``item_bytes``) as its deepest remainder carries it."""
    return item_bytes(item) + TRIES_BYTES


def record_bytes(item: WorkItem) -> int:
    """The room a batch's record keeps for an item: the item as its deepest remainder's record
    carries it, and its failure (``s3migrator.failures.reserved_bytes``)."""
    return reserved_bytes(item_bytes(item)) + TRIES_BYTES


def empty_batch_bytes(
    spec: CopySpec, seq: int, *, redrive: bool = False, shard: int | None = None
) -> int:
    empty = WorkBatch.of(
        batch_id(spec.job_id, seq, redrive=redrive, shard=shard), spec, [], redrive=redrive
    )
    return len(empty.body())


def pack(
    items: Iterable[WorkItem],
    spec: CopySpec,
    *,
    first_seq: int,
    max_keys: int,
    max_bytes: int,
    max_object_bytes: int | None = None,
    solo_object_bytes: int | None = None,
    redrive: bool = False,
    epoch: int = 0,
    together: bool = False,
    shard: int | None = None,
) -> Iterator[WorkBatch]:
    """Stream items into batches numbered from ``first_seq``; constant memory in the listing.

    A batch holds at most ``max_keys`` keys, a body of ``max_bytes`` (less what its remainders
    add), a record that fits in a DynamoDB item with all its failures, and objects adding up to
    ``max_object_bytes``, so that one batch's copies fit comfortably within SQS's 12-hour
    visibility; an object of ``solo_object_bytes`` or more travels alone. ``together``: a
    key's items (its versions) stay in one batch, whatever the key count and object bytes, so
    one copier writes them in order; ValueError when they cannot fit one message or record.
    ``shard``: the batches are the listing shard's, numbered in its own series.
    """
    max_bytes -= GROWTH_BYTES

    def close(seq: int, items: list[WorkItem]) -> WorkBatch:
        batch = batch_id(spec.job_id, seq, redrive=redrive, shard=shard)
        return WorkBatch.of(batch, spec, items, redrive=redrive, epoch=epoch)

    def solo(item: WorkItem) -> bool:
        return solo_object_bytes is not None and item.size >= solo_object_bytes

    seq = first_seq
    current: list[WorkItem] = []
    size = base = empty_batch_bytes(spec, seq, redrive=redrive, shard=shard)
    objects = stored = 0
    for item in items:
        extra = grown_item_bytes(item)
        if base + extra > max_bytes:
            raise ValueError(f"key {item.key!r} alone exceeds the message cap of {max_bytes} bytes")
        too_much = max_object_bytes is not None and objects + item.size > max_object_bytes
        # The batch's record keeps room for the item and its failure (``s3migrator.failures``).
        record = record_bytes(item)
        full = size + extra > max_bytes or stored + record > RECORD_BYTES
        if current and together and item.key == current[-1].key:
            first = next(i for i, held in enumerate(current) if held.key == item.key)
            if full and first > 0:
                # The key's history moves on whole to the next batch.
                yield close(seq, current[:first])
                seq += 1
                current = current[first:]
                base = empty_batch_bytes(spec, seq, redrive=redrive, shard=shard)
                size = base + sum(grown_item_bytes(held) for held in current)
                stored = sum(record_bytes(held) for held in current)
                objects = sum(held.size for held in current)
                full = size + extra > max_bytes or stored + record > RECORD_BYTES
            if full:
                raise ValueError(
                    f"the versions of {item.key!r} do not fit in one batch (a message of"
                    f" {max_bytes} bytes, and a record with room for each one's failure):"
                    " copy that key's current version in a job of its own"
                )
        elif current and (
            len(current) >= max_keys or full or too_much or solo(item) or solo(current[0])
        ):
            yield close(seq, current)
            seq += 1
            current = []
            size = base = empty_batch_bytes(spec, seq, redrive=redrive, shard=shard)
            objects = stored = 0
        current.append(item)
        size += extra
        stored += record
        objects += item.size
    if current:
        yield close(seq, current)


class Limits(TypedDict):
    max_keys: int
    max_bytes: int
    max_object_bytes: int
    solo_object_bytes: int


def fixed_limits() -> Limits:
    """The default bounds, whatever this process's settings say: what a redrive packs with, so
    two redrives of the same failures (run with other settings, or at once) define the same
    batches under the same ids."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    return limits(Settings.model_construct(**defaults))


def limits(settings: Settings) -> Limits:
    """The bounds of a batch as the settings give them (``pack``'s keyword arguments)."""
    return {
        "max_keys": settings.batch_max_keys,
        "max_bytes": settings.message_max_bytes,
        "max_object_bytes": settings.batch_max_object_bytes,
        # An object to be split into part batches must travel alone to be split.
        "solo_object_bytes": min(settings.solo_object_bytes, settings.split_object_bytes),
    }


# A listing group (its batches defined in one transaction, then sent) closes at ten batches,
# SendMessageBatch's limit, or once it holds this many keys: batches of a thousand small keys
# (about 95 KiB each) go two to a send of at most 256 KiB anyway, and a listing thread holds
# its group in memory, so the coordinator's memory stays the same whatever the source's size.
GROUP_MAX_KEYS = 2_000


def group_is_full(batches: int, keys: int) -> bool:
    return batches >= MAX_ENTRIES_PER_SEND or keys >= GROUP_MAX_KEYS


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
