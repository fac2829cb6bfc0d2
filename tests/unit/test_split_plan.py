"""Planning a huge object's split: which batches split, and the part batches of its upload."""

from __future__ import annotations

import itertools

import pytest

from coordinator.batching import limits
from copier.parts import (
    MAX_PART_BYTES,
    MAX_PARTS,
    MAX_PARTS_PER_PART_BATCH,
    GiB,
    MiB,
    parts_per_batch,
    plan_part_batches,
)
from copier.split_plan import splits, upload_plan
from s3migrator.models import CopySpec, Location
from s3migrator.part_work import part_batch_id
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch, WorkItem

TiB = 1024**4
LARGEST = MAX_PARTS * MAX_PART_BYTES  # 48.8 TiB: 10,000 parts of 5 GiB
SPEC = CopySpec(job_id="job-1", source=Location(bucket="src"), destination=Location(bucket="dst"))


def batch_of(*items: WorkItem) -> WorkBatch:
    return WorkBatch.of("job-1:000000001", SPEC, list(items))


@pytest.mark.parametrize(("parts", "per_batch"), [(1, 1), (5, 2), (256, 32), (10_000, 1), (7, 10)])
def test_part_batches_cover_every_part_once_in_order(parts: int, per_batch: int) -> None:
    # WHEN parts are cut into part batches
    plans = plan_part_batches(parts, per_batch)
    # THEN they number from 1, run from part 1 to the last with no gap or overlap, each full
    # but the last
    assert [plan.index for plan in plans] == list(range(1, len(plans) + 1))
    assert plans[0].first == 1
    assert plans[-1].last == parts
    for before, after in itertools.pairwise(plans):
        assert after.first == before.last + 1
    assert all(len(plan.numbers) == per_batch for plan in plans[:-1])
    assert 0 < len(plans[-1].numbers) <= per_batch


def test_the_default_split_object_goes_out_in_eight_part_batches() -> None:
    # GIVEN a 64 GiB object, 256 MiB parts and part batches of 8 GiB
    # WHEN planned / THEN 256 parts, 32 per part batch, 8 part batches
    assert upload_plan(64 * GiB, 256 * MiB, 8 * GiB) == (256 * MiB, 32, 8)


def test_the_largest_object_fits_ten_thousand_parts_of_five_gib() -> None:
    # GIVEN the largest object 10,000 parts can hold (48.8 TiB)
    assert f"{LARGEST / TiB:.1f}" == "48.8"
    # WHEN planned with the default part size and part batch bytes
    part, per_batch, batches = upload_plan(LARGEST, 256 * MiB, 8 * GiB)
    # THEN each part is 5 GiB, each part batch one part: 10,000 part batches
    assert (part, per_batch, batches) == (MAX_PART_BYTES, 1, MAX_PARTS)


def test_an_object_one_byte_over_the_largest_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be copied in 10000 parts"):
        upload_plan(LARGEST + 1, 256 * MiB, 8 * GiB)


def test_a_48_8_tib_object_is_planned_within_ten_thousand_parts() -> None:
    # GIVEN an object of 48.8 TiB (a little under the largest)
    size = int(48.8 * TiB)
    # WHEN planned
    part, per_batch, batches = upload_plan(size, 256 * MiB, 8 * GiB)
    # THEN its parts are raised to fit 10,000, and every part batch holds one part
    assert part == -(-size // MAX_PARTS)
    assert -(-size // part) <= MAX_PARTS
    assert (per_batch, batches) == (1, -(-size // part))


def test_a_part_batch_holds_one_part_at_least() -> None:
    assert upload_plan(64 * GiB, 5 * GiB, 1 * GiB) == (5 * GiB, 1, 13)


def test_part_batch_ids_follow_their_parents_and_never_collide() -> None:
    ids = [part_batch_id("job-1:000000001", index) for index in range(1, MAX_PARTS + 1)]
    assert ids[0] == "job-1:000000001.p0001"
    assert ids[-1] == "job-1:000000001.p10000"
    assert len(set(ids)) == MAX_PARTS


def test_only_a_batch_of_one_plain_huge_object_splits() -> None:
    huge = WorkItem(key="huge", size=64 * GiB, etag='"e"')
    small = WorkItem(key="small", size=1, etag='"s"')
    threshold = 64 * GiB
    assert splits(batch_of(huge), threshold) is True
    assert splits(batch_of(huge.model_copy(update={"size": threshold - 1})), threshold) is False
    assert splits(batch_of(huge, small), threshold) is False
    assert splits(batch_of(huge.model_copy(update={"version_id": "v1"})), threshold) is False
    assert splits(batch_of(huge.model_copy(update={"restore": True})), threshold) is False
    assert splits(batch_of(huge.model_copy(update={"delete": True})), threshold) is False


def test_an_object_the_copiers_split_travels_alone_whatever_the_solo_setting() -> None:
    # GIVEN settings that split objects below the size that travels alone
    settings = Settings(solo_object_bytes=5 * GiB, split_object_bytes=2 * GiB)
    # WHEN the coordinator's bounds are read / THEN an object to split travels alone
    assert limits(settings)["solo_object_bytes"] == 2 * GiB
    assert limits(Settings())["solo_object_bytes"] == 5 * GiB


def test_a_part_batch_holds_at_most_a_thousand_parts_whatever_its_bytes_setting() -> None:
    # a 64 GiB object in 5 MiB parts, part batches asked for 64 GiB each: its record would
    # hold 13,108 parts' ETags, beyond DynamoDB's 400 KB item
    assert parts_per_batch(5 * MiB, 64 * GiB) == MAX_PARTS_PER_PART_BATCH == 1000
    assert parts_per_batch(5 * MiB, 10 * MiB) == 2
