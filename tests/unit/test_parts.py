"""Copy planning: CopyObject or multipart, and the part ranges of a multipart copy."""

from __future__ import annotations

import itertools
import math

import pytest

from copier.parts import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    GiB,
    MiB,
    part_size,
    plan_parts,
    use_multipart,
)

TiB = 1024**4


def assert_exact_cover(size: int, parts: list) -> None:
    assert parts[0].first == 0
    assert parts[-1].last == size - 1
    assert [p.number for p in parts] == list(range(1, len(parts) + 1))
    for before, after in itertools.pairwise(parts):
        assert after.first == before.last + 1
    assert sum(p.size for p in parts) == size


@pytest.mark.parametrize(
    "size", [1, MIN_PART_BYTES - 1, MIN_PART_BYTES, MIN_PART_BYTES + 1, 11 * MiB + 512, GiB + 3]
)
def test_parts_are_contiguous_and_cover_the_object_exactly(size: int) -> None:
    # WHEN an object is planned with 5 MiB parts
    parts = plan_parts(size, 5 * MiB)
    # THEN ranges run from byte 0 to size-1 with no gap or overlap
    assert_exact_cover(size, parts)
    # AND every part but the last has the full part size; the last is not larger
    assert all(p.size == 5 * MiB for p in parts[:-1])
    assert 0 < parts[-1].size <= 5 * MiB


def test_part_header_is_an_inclusive_http_range() -> None:
    parts = plan_parts(11 * MiB, 5 * MiB)
    assert [p.header for p in parts] == [
        f"bytes=0-{5 * MiB - 1}",
        f"bytes={5 * MiB}-{10 * MiB - 1}",
        f"bytes={10 * MiB}-{11 * MiB - 1}",
    ]


def test_huge_object_fits_in_ten_thousand_parts() -> None:
    # GIVEN the largest S3 object (48.8 TiB) and a small preferred part size
    size = int(48.8 * TiB)
    # WHEN planned
    parts = plan_parts(size, 256 * MiB)
    # THEN the part size was raised: at most 10,000 parts, each within S3's limits
    assert len(parts) <= MAX_PARTS
    assert parts[0].size >= math.ceil(size / MAX_PARTS)
    assert parts[0].size <= MAX_PART_BYTES
    assert_exact_cover(size, parts)


def test_part_size_is_never_below_five_mib() -> None:
    assert part_size(1, 1 * MiB) == MIN_PART_BYTES
    assert all(p.size == MIN_PART_BYTES for p in plan_parts(12 * MiB, MiB)[:-1])


def test_preferred_part_size_is_kept_when_it_fits() -> None:
    assert part_size(10 * GiB, 256 * MiB) == 256 * MiB


def test_part_size_raises_when_parts_above_five_gib_would_be_needed() -> None:
    # GIVEN an object that needs more than 10,000 parts of 5 GiB
    size = MAX_PARTS * MAX_PART_BYTES + 1
    # WHEN / THEN planning refuses it
    with pytest.raises(ValueError, match="cannot be copied"):
        part_size(size, 256 * MiB)


def test_largest_object_that_fits_uses_five_gib_parts() -> None:
    assert part_size(MAX_PARTS * MAX_PART_BYTES, 256 * MiB) == MAX_PART_BYTES


def test_plan_parts_rejects_empty_objects() -> None:
    with pytest.raises(ValueError):
        plan_parts(0, 5 * MiB)


def test_use_multipart_starts_exactly_at_the_threshold() -> None:
    threshold = 8 * MiB
    assert use_multipart(threshold - 1, threshold) is False
    assert use_multipart(threshold, threshold) is True
    assert use_multipart(threshold + 1, threshold) is True


def test_use_multipart_above_five_gib_whatever_the_threshold() -> None:
    # GIVEN a threshold above CopyObject's 5 GiB limit
    threshold = 10 * GiB
    # THEN exactly 5 GiB may still use CopyObject, one byte more may not
    assert use_multipart(5 * GiB, threshold) is False
    assert use_multipart(5 * GiB + 1, threshold) is True
