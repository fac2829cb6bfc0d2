"""Pure planning of a huge object's split: which objects split, and its part batches.

The plan is recorded with the upload (part size and parts per part batch), so every copier
derives the same part batches from the record, whatever its own settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from copier.parts import PartBatchPlan, part_size, parts_per_batch, plan_part_batches
from s3migrator.checksums import WholeChecksum

if TYPE_CHECKING:
    from s3migrator.part_work import UploadRecord
    from s3migrator.work import WorkBatch


def splits(batch: WorkBatch, split_object_bytes: int) -> bool:
    """A batch of one huge object's current version (a huge object travels alone); versions,
    deletions and restores keep their own paths."""
    if len(batch.items) != 1:
        return False
    item = batch.items[0]
    plain = not (item.delete or item.restore or item.marker or item.version_id is not None)
    return plain and item.size >= split_object_bytes


def upload_plan(size: int, preferred_part: int, batch_bytes: int) -> tuple[int, int, int]:
    """(part size, parts per part batch, part batches) for an object of ``size`` bytes: the
    part size raised so the object fits 10,000 parts, each part batch about ``batch_bytes``."""
    chosen = part_size(size, preferred_part)
    parts = -(-size // chosen)
    per_batch = parts_per_batch(chosen, batch_bytes)
    return chosen, per_batch, len(plan_part_batches(parts, per_batch))


def part_batches(record: UploadRecord) -> list[PartBatchPlan]:
    """The recorded upload's part batches."""
    parts = -(-record.item.size // record.part_size)
    return plan_part_batches(parts, record.per_batch)


def checked_of(record: UploadRecord) -> WholeChecksum | None:
    """The source checksum the upload's completion names, as recorded."""
    if record.checked_algorithm and record.checked_value:
        return WholeChecksum(record.checked_algorithm, record.checked_value)
    return None
