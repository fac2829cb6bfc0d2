"""Which source objects a job copies: key patterns, filters, archived objects, sync's sameness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from coordinator.sieve import Sieve, unchanged
from s3migrator.models import CopySpec, JobMessage, Location, Overwrite
from s3migrator.selection import ListingPlan, Selection, archived, glob_regex

MINIMAL = {"mode": "copy", "source": {"bucket": "src"}, "destination": {"bucket": "dst"}}
T = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        # * stays within one segment; a pattern with / is anchored at the source prefix
        ("data/*.csv", "data/a.csv", True),
        ("data/*.csv", "data/sub/a.csv", False),
        ("data/*.csv", "other/data/a.csv", False),
        ("data/*", "data/", True),
        # ** crosses segments
        ("data/**", "data/a/b/c.txt", True),
        ("data/**", "datax/a", False),
        ("data/**", "data/line\nbreak", True),
        ("a**b", "x/a/y/b", True),
        # **/ stands for any number of whole segments, none included
        ("**/x.txt", "x.txt", True),
        ("**/x.txt", "a/b/x.txt", True),
        ("**/x.txt", "ax.txt", False),
        ("data/**/x.txt", "data/x.txt", True),
        ("data/**/x.txt", "data/a/b/x.txt", True),
        ("data/**/x.txt", "data/ax.txt", False),
        # ? is one character, never /
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file12.txt", False),
        ("file?.txt", "file.txt", False),
        ("a?b", "a/b", False),
        # [...] is one of a set; [!...] and [^...] one not in it (and never /)
        ("log[a-c].txt", "logb.txt", True),
        ("log[a-c].txt", "logd.txt", False),
        ("x[!a]", "xb", True),
        ("x[!a]", "xa", False),
        ("x[^a]", "xa", False),
        ("d/x[!a]", "d/x/", False),
        ("[]a]", "]", True),
        ("[]a]", "a", True),
        ("[]a]", "b", False),
        # without /, the pattern matches the key's last segment
        ("*.csv", "a.csv", True),
        ("*.csv", "2024/01/a.csv", True),
        ("*.csv", "a.csv.gz", False),
        ("*.csv", "a.csv/b.txt", False),
        ("b.txt", "a/b.txt", True),
        ("b.txt", "ab.txt", False),
        # an unclosed [ is literal; every other regular expression character is literal too
        ("a[b", "a[b", True),
        ("a[b", "x/a[b", True),
        ("a[b", "ab", False),
        ("[!]", "[!]", True),
        ("a.b", "axb", False),
        ("(x)+", "(x)+", True),
        ("(x)+", "xx", False),
    ],
)
def test_key_patterns_are_globs_on_the_relative_key(pattern: str, key: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(key)) is matches


def test_include_then_exclude_decide_which_keys_are_named() -> None:
    # GIVEN include and exclude patterns
    selection = Selection(include=["data/**", "*.csv"], exclude=["**/tmp/**", "*.json"])
    # THEN a key is named when one include matches and no exclude does
    assert selection.names("data/a.txt")
    assert selection.names("logs/b.csv")
    assert not selection.names("logs/b.txt")
    assert not selection.names("data/tmp/a.txt")
    assert not selection.names("data/a.json")
    # AND without include patterns every key not excluded is named
    assert Selection(exclude=["*.json"]).names("x/y.txt")


def selects(
    selection: Selection, size: int = 10, modified: datetime = T, cls: str = "STANDARD"
) -> bool:
    return selection.selects("k", size, modified, cls)


def test_size_bounds_are_inclusive() -> None:
    selection = Selection(min_size=10, max_size=20)
    assert [selects(selection, size=s) for s in (9, 10, 20, 21)] == [False, True, True, False]
    # AND one bound alone, or equal bounds, select accordingly
    assert [selects(Selection(min_size=0), size=s) for s in (0, 1)] == [True, True]
    assert [selects(Selection(max_size=0), size=s) for s in (0, 1)] == [True, False]
    assert [selects(Selection(min_size=5, max_size=5), size=s) for s in (4, 5, 6)] == [
        False,
        True,
        False,
    ]


def test_dates_select_strictly_after_and_strictly_before() -> None:
    after, before = Selection(modified_after=T), Selection(modified_before=T)
    assert [selects(after, modified=m) for m in (T - SECOND, T, T + SECOND)] == [
        False,
        False,
        True,
    ]
    assert [selects(before, modified=m) for m in (T - SECOND, T, T + SECOND)] == [
        True,
        False,
        False,
    ]
    window = Selection(modified_after=T, modified_before=T + 2 * SECOND)
    assert [selects(window, modified=T + n * SECOND) for n in range(4)] == [
        False,
        True,
        False,
        False,
    ]


def test_storage_classes_select_the_classes_named() -> None:
    selection = Selection(storage_classes=["STANDARD", "GLACIER_IR"])
    assert [selects(selection, cls=c) for c in ("STANDARD", "GLACIER_IR", "STANDARD_IA")] == [
        True,
        True,
        False,
    ]
    # AND no classes named: every class
    assert selects(Selection(), cls="DEEP_ARCHIVE")


class Listing:
    """An S3 client's listing of fixed entries, recording what it was asked (no AWS call)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.asked: dict[str, Any] = {}

    def get_paginator(self, name: str) -> Listing:
        assert name == "list_objects_v2"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.asked = kwargs
        return [{"Contents": self.entries}]


def entry(key: str, cls: str | None = None, size: int = 1, **more: Any) -> dict[str, Any]:
    found = {"Key": key, "Size": size, "ETag": f'"{key}"', "LastModified": T, **more}
    return found if cls is None else {**found, "StorageClass": cls}


def sieve(entries: list[dict[str, Any]], plan: ListingPlan) -> tuple[Sieve, Listing]:
    listing = Listing(entries)
    spec = CopySpec(job_id="j", source=Location(bucket="src"), destination=Location(bucket="dst"))
    return Sieve(listing, spec, plan), listing  # type: ignore[arg-type]


def test_an_entry_listed_without_a_storage_class_is_standard() -> None:
    # GIVEN a job that selects STANDARD objects, and a listing that names no class for one
    plan = ListingPlan(select=Selection(storage_classes=["STANDARD"]))
    chosen, _ = sieve([entry("a"), entry("b", "STANDARD"), entry("c", "STANDARD_IA")], plan)
    # WHEN the listing is sieved THEN the entry without a class is taken as STANDARD
    assert [item.key for item in chosen.items(None)] == ["a", "b"]
    assert chosen.running.filtered == 1


def test_the_tally_through_a_key_counts_only_what_came_before_it() -> None:
    # GIVEN keys whose every other one is filtered out
    plan = ListingPlan(select=Selection(exclude=["*.skip"]))
    keys = ["a.keep", "b.skip", "c.keep", "d.skip", "e.skip", "f.keep", "g.skip"]
    chosen, listing = sieve([entry(k) for k in keys], plan)
    # WHEN the listing is read one item ahead of what is checkpointed
    items = chosen.items(None)
    assert [next(items).key, next(items).key, next(items).key] == ["a.keep", "c.keep", "f.keep"]
    # THEN each key's tally counts the keys left out before it, not those read since
    assert [chosen.through(k).filtered for k in ("a.keep", "c.keep", "f.keep")] == [0, 1, 3]
    assert list(items) == []
    assert chosen.running.filtered == 4
    # AND the listing asked for the restore status (archived objects are skipped by default)
    assert listing.asked["OptionalObjectAttributes"] == ["RestoreStatus"]


def test_archived_objects_are_skipped_unless_the_job_copies_them() -> None:
    entries = [entry("a", "GLACIER", size=3), entry("b", "DEEP_ARCHIVE", size=4), entry("c")]
    skipping, _ = sieve(entries, ListingPlan())
    assert [item.key for item in skipping.items(None)] == ["c"]
    assert (skipping.running.archived, skipping.running.archived_bytes) == (2, 7)
    copying, listing = sieve(entries, ListingPlan(archived="copy"))
    assert [item.key for item in copying.items(None)] == ["a", "b", "c"]
    assert "OptionalObjectAttributes" not in listing.asked


@pytest.mark.parametrize(
    ("cls", "restore", "is_archived"),
    [
        ("GLACIER", None, True),
        ("DEEP_ARCHIVE", None, True),
        ("GLACIER", {"IsRestoreInProgress": True}, True),
        ("DEEP_ARCHIVE", {"IsRestoreInProgress": True}, True),
        ("GLACIER", {"IsRestoreInProgress": False, "RestoreExpiryDate": T}, False),
        ("DEEP_ARCHIVE", {"IsRestoreInProgress": False, "RestoreExpiryDate": T}, False),
        ("GLACIER", {"IsRestoreInProgress": False}, True),
        ("STANDARD", None, False),
        ("GLACIER_IR", None, False),
        ("INTELLIGENT_TIERING", None, False),
        (None, None, False),
    ],
)
def test_archived_means_in_an_archive_class_and_not_restored(
    cls: str | None, restore: dict[str, Any] | None, is_archived: bool
) -> None:
    listed = entry("k", cls) if restore is None else entry("k", cls, RestoreStatus=restore)
    assert archived(listed) is is_archived


def side(size: int = 5, etag: str = '"e1"', modified: datetime = T) -> dict[str, Any]:
    return {"Key": "k", "Size": size, "ETag": etag, "LastModified": modified}


@pytest.mark.parametrize(
    ("destination", "same"),
    [
        (side(), True),  # same size and ETag
        (side(modified=T - SECOND), True),  # same size and ETag, whenever written
        (side(etag='"e2-2"', modified=T + SECOND), True),  # a copy in parts, written after
        (side(etag='"e2-2"', modified=T - SECOND), False),  # a copy in parts, written before
        (side(etag='"e2"', modified=T + SECOND), False),  # two MD5s that differ, whenever
        (side(size=6), False),  # another size
        (side(size=6, modified=T + SECOND), False),  # another size, written after
    ],
)
def test_a_destination_object_is_unchanged_by_size_and_etag_or_by_being_newer(
    destination: dict[str, Any], same: bool
) -> None:
    assert unchanged(side(), destination) is same


def test_a_destination_only_as_new_as_its_source_is_not_taken_to_hold_it() -> None:
    # GIVEN a source rewritten (same size, another ETag) in the second its copy was written:
    # both listings show the same time
    # THEN the destination is not known to hold the source's object
    assert unchanged(side(), side(etag='"e2-2"')) is False
    # AND under SSE-KMS (ETags no MD5 of the bytes) a newer destination is taken to hold it
    assert unchanged(side(), side(etag='"k2"', modified=T + SECOND), kms=True) is True


def test_sync_validation_and_overwrite_rule() -> None:
    # A sync replaces what changed: if-different by default, always when asked, never refused
    assert JobMessage.model_validate({**MINIMAL, "sync": True}).overwrite is Overwrite.IF_DIFFERENT
    synced = JobMessage.model_validate({**MINIMAL, "sync": True, "overwrite": "always"})
    assert synced.overwrite is Overwrite.ALWAYS
    with pytest.raises(ValidationError, match='not "never"'):
        JobMessage.model_validate({**MINIMAL, "sync": True, "overwrite": "never"})
    # AND a job that does not sync keeps "never" as its default
    assert JobMessage.model_validate(MINIMAL).overwrite is Overwrite.NEVER
    # AND delete_extra needs sync
    with pytest.raises(ValidationError, match="delete_extra needs sync"):
        JobMessage.model_validate({**MINIMAL, "delete_extra": True})
    plan = JobMessage.model_validate({**MINIMAL, "sync": True, "delete_extra": True})
    assert plan.listing_plan() == ListingPlan(sync=True, delete_extra=True)


@pytest.mark.parametrize("given", ["true", 1])
def test_a_sync_given_as_another_form_of_true_is_held_to_the_sync_rule(given: object) -> None:
    job = JobMessage.model_validate({**MINIMAL, "sync": given})
    assert (job.sync, job.overwrite) == (True, Overwrite.IF_DIFFERENT)


@pytest.mark.parametrize(
    ("select", "reason"),
    [
        ({"min_size": 11, "max_size": 10}, "min_size is larger than max_size"),
        ({"min_size": -1}, "greater than or equal to 0"),
        (
            {"modified_after": "2024-06-01T00:00:00Z", "modified_before": "2024-06-01T00:00:00Z"},
            "modified_after is not before modified_before",
        ),
        (
            {"modified_after": "2024-06-02T00:00:00Z", "modified_before": "2024-06-01T00:00:00Z"},
            "modified_after is not before modified_before",
        ),
        ({"modified_after": "2024-06-01T00:00:00"}, "timezone"),
        ({"storage_classes": ["COLD"]}, "storage_classes"),
        ({"include": [""]}, "invalid key pattern"),
        ({"include": ["x" * 1025]}, "invalid key pattern"),
        ({"include": ["*"] * 101}, "at most 100 items"),
        ({"exclude": ["a\x00b"]}, "invalid key pattern"),
        ({"inclde": ["*"]}, "Extra inputs are not permitted"),
    ],
)
def test_an_inconsistent_selection_is_refused_with_its_reason(
    select: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        JobMessage.model_validate({**MINIMAL, "select": select})


def test_a_consistent_selection_is_taken_as_given() -> None:
    job = JobMessage.model_validate(
        {**MINIMAL, "select": {"min_size": 10, "max_size": 10, "include": ["*.csv"]}}
    )
    assert job.listing_plan().select == Selection(min_size=10, max_size=10, include=["*.csv"])
    assert job.listing_plan().archived == "skip"
