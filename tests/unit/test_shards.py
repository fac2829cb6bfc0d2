"""The split policy of a sharded listing (``coordinator.shards``) and its batch id series."""

from __future__ import annotations

import pytest

from coordinator.batching import batch_id
from coordinator.shards import LAST_CHARACTER, cuts, in_range, past, ranges, worth_sharding
from copier.remainders import remainder_of
from s3migrator.models import CopySpec, Location
from s3migrator.work import WorkBatch, WorkItem

FOLDERS = [f"data/{name}/" for name in "abcdefghijkl"]


def test_a_source_no_larger_than_the_threshold_keeps_one_chain() -> None:
    # GIVEN listings that ended within, at, or beyond the threshold
    # WHEN asked whether each is worth sharding
    # THEN only one that found the threshold's keys and more is, and only with shards allowed
    assert not worth_sharding(999, False, min_keys=1000, shards=32)
    assert not worth_sharding(1000, False, min_keys=1000, shards=32)
    assert worth_sharding(1000, True, min_keys=1000, shards=32)
    assert not worth_sharding(1000, True, min_keys=1000, shards=1)


@pytest.mark.parametrize("candidates", [[], ["data/"], ["data/", "data/"]])
def test_fewer_than_two_places_to_cut_keep_one_chain(candidates: list[str]) -> None:
    assert cuts(candidates, 32) == []


def test_one_shard_allowed_means_no_cut() -> None:
    assert cuts(FOLDERS, 1) == []


def test_cuts_are_spread_evenly_over_the_candidates_in_key_order() -> None:
    # GIVEN twelve folders, given out of order and twice over
    given = list(reversed(FOLDERS)) + FOLDERS
    # WHEN cut for four shards
    chosen = cuts(given, 4)
    # THEN three cuts, every third folder, the first folder never one
    assert chosen == ["data/d/", "data/g/", "data/j/"]


def test_fewer_candidates_than_shards_cut_at_each_but_the_first() -> None:
    assert cuts(FOLDERS[:3], 32) == ["data/b/", "data/c/"]


def test_no_more_cuts_than_shards_allow() -> None:
    many = [f"k/{n:05d}/" for n in range(10_000)]
    chosen = cuts(many, 64)
    assert len(chosen) == 63
    assert chosen == sorted(chosen)
    assert chosen[0] == "k/00156/" and chosen[-1] == "k/09843/"


def test_the_ranges_partition_every_key_exactly_once() -> None:
    # GIVEN the ranges of three cuts
    bounds = ranges(["data/b/", "data/c/", "data/d/"])
    assert bounds == [
        (None, "data/b/"),
        ("data/b/", "data/c/"),
        ("data/c/", "data/d/"),
        ("data/d/", None),
    ]
    # AND keys before, at, inside, between and after them (a cut itself, a folder marker,
    # keys that sort just beside a folder, non-ASCII keys)
    keys = [
        "",
        "a",
        "data/a/1",
        "data/b",
        "data/b.txt",
        "data/b/",
        "data/b/1",
        "data/b/\u00e9t\u00e9",
        "data/c/",
        "data/c/x",
        "data/c0",
        "data/d/",
        "data/d/\U0001f600",
        "zzz",
        past("data/d/"),
    ]
    # WHEN each key is placed
    # THEN it lies in exactly one range, and every key of a folder but its marker lies in the
    # range after the cut at that folder
    for key in keys:
        assert sum(in_range(key, after, through) for after, through in bounds) == 1, key
    assert in_range("data/b/1", "data/b/", "data/c/")
    assert in_range("data/b/", None, "data/b/")


def test_past_a_prefix_sorts_after_its_keys_and_before_the_next_prefix() -> None:
    assert "img/zzzz\uffff" < past("img/") < "img0"
    assert past("a").endswith(LAST_CHARACTER)


SPEC = CopySpec(job_id="job-1", source=Location(bucket="src"), destination=Location(bucket="dst"))


def test_each_shard_numbers_its_batches_in_a_series_of_its_own() -> None:
    # GIVEN the ids of one chain, a redrive and two shards at the same positions
    ids = {
        batch_id("job-1", 12),
        batch_id("job-1", 12, redrive=True),
        batch_id("job-1", 12, shard=3),
        batch_id("job-1", 12, shard=4),
    }
    # THEN they are four ids, the shards' in their own series
    assert len(ids) == 4
    assert batch_id("job-1", 12, shard=3) == "job-1:s003-000000012"
    assert batch_id("job-1", 12) == "job-1:000000012"


def test_a_shard_batchs_remainder_and_a_replacements_remainder_keep_its_root() -> None:
    # GIVEN a shard's batch and a replacement of one, whose objects failed transiently
    items = [WorkItem(key="k", size=1, etag='"e"')]
    for root in ("job-1:s003-000000012", "job-1:s003-000000012+1"):
        batch = WorkBatch.of(root, SPEC, items)
        # WHEN its remainder is made, and the remainder's own
        first = remainder_of(batch, items, [])
        assert first is not None
        second = remainder_of(first, items, [])
        # THEN each is named after the root, with its attempt
        assert first.batch_id == f"{root}~2"
        assert second is not None and second.batch_id == f"{root}~3"
