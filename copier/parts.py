"""Pure copy planning: single CopyObject or multipart, and the part ranges of a multipart copy."""

from __future__ import annotations

import math
from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_COPY_BYTES = 5 * GiB


@dataclass(frozen=True)
class PartRange:
    number: int  # 1-based, as S3 numbers parts
    first: int
    last: int  # inclusive, as in an HTTP Range header

    @property
    def header(self) -> str:
        return f"bytes={self.first}-{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def use_multipart(size: int, threshold: int) -> bool:
    """Multipart at or above the threshold, and always above CopyObject's 5 GiB limit."""
    return size >= threshold or size > MAX_SINGLE_COPY_BYTES


def part_size(size: int, preferred: int) -> int:
    """The preferred part size, raised so the object fits in 10,000 parts, within S3's limits."""
    needed = math.ceil(size / MAX_PARTS)
    chosen = max(preferred, needed, MIN_PART_BYTES)
    if chosen > MAX_PART_BYTES:
        raise ValueError(f"an object of {size} bytes cannot be copied in {MAX_PARTS} parts")
    return chosen


def plan_parts(size: int, preferred: int) -> list[PartRange]:
    """Split ``size`` bytes into contiguous ranges; only the last one may be smaller."""
    if size <= 0:
        raise ValueError("a multipart copy needs a non-empty object")
    step = part_size(size, preferred)
    return [
        PartRange(number=i + 1, first=start, last=min(start + step, size) - 1)
        for i, start in enumerate(range(0, size, step))
    ]


@dataclass(frozen=True)
class PartBatchPlan:
    """One part batch of a huge object: its parts ``first`` to ``last`` (S3's numbers)."""

    index: int  # 1-based, as in the part batch's id
    first: int
    last: int  # inclusive

    @property
    def numbers(self) -> range:
        return range(self.first, self.last + 1)


# A part batch's record holds each part's ETag and checksum (about 140 bytes): at most this
# many parts keeps it far within DynamoDB's 400 KB item, whatever part_batch_bytes says.
MAX_PARTS_PER_PART_BATCH = 1000


def parts_per_batch(part_bytes: int, batch_bytes: int) -> int:
    """How many parts a part batch takes: as many as fit ``batch_bytes``, one at least, and
    at most ``MAX_PARTS_PER_PART_BATCH``."""
    return min(MAX_PARTS_PER_PART_BATCH, max(1, batch_bytes // part_bytes))


def plan_part_batches(parts: int, per_batch: int) -> list[PartBatchPlan]:
    """Cut ``parts`` parts into part batches of ``per_batch`` (the last may hold fewer)."""
    if parts < 1 or per_batch < 1:
        raise ValueError("a part batch plan needs parts and a batch size of one at least")
    return [
        PartBatchPlan(index=i + 1, first=first, last=min(first + per_batch - 1, parts))
        for i, first in enumerate(range(1, parts + 1, per_batch))
    ]
