"""Batching policy: batches bounded by key count and serialized bytes, deterministic ids."""

from __future__ import annotations

import itertools
import json

import pytest

from coordinator.batching import (
    GROWTH_BYTES,
    MAX_ENTRIES_PER_SEND,
    batch_id,
    empty_batch_bytes,
    group_for_send,
    item_bytes,
    pack,
)
from s3migrator.models import CopySpec, Location
from s3migrator.work import WorkBatch, WorkItem, kept_class

SPEC = CopySpec(
    job_id="job-1",
    source=Location(bucket="src-bucket", prefix="in/"),
    destination=Location(bucket="dst-bucket", prefix="out/"),
)


def items(count: int, key_len: int = 20, prefix: str = "in/") -> list[WorkItem]:
    return [
        WorkItem(key=f"{prefix}{i:06d}".ljust(key_len, "x"), size=i, etag=f'"{i:032x}"')
        for i in range(count)
    ]


def wire_bytes(batch: WorkBatch) -> int:
    return len(batch.body().encode())


def test_batches_hold_at_most_max_keys_and_keep_every_item_in_order() -> None:
    # GIVEN 25 small items and a generous byte cap
    source = items(25)
    # WHEN packed with at most 10 keys per batch
    batches = list(pack(source, SPEC, first_seq=0, max_keys=10, max_bytes=256 * 1024))
    # THEN the batches hold 10, 10 and 5 keys, in listing order, nothing lost or duplicated
    assert [len(b.items) for b in batches] == [10, 10, 5]
    assert [i for b in batches for i in b.items] == source


@pytest.mark.parametrize("max_bytes", [4096, 5000, 7777, 16 * 1024])
def test_every_batch_fits_max_bytes_when_serialized(max_bytes: int) -> None:
    # GIVEN many long keys, far more bytes than one message can hold
    source = items(400, key_len=300)
    # WHEN packed under a byte cap with a key cap that never binds
    batches = list(pack(source, SPEC, first_seq=0, max_keys=10_000, max_bytes=max_bytes))
    # THEN every batch's JSON fits the cap and all items are still there
    assert len(batches) > 1
    assert all(wire_bytes(b) <= max_bytes for b in batches)
    assert [i for b in batches for i in b.items] == source


def test_byte_cap_closes_batches_that_are_nearly_full() -> None:
    # GIVEN items of 300-byte keys and a cap of 4096 bytes
    source = items(60, key_len=300)
    max_bytes = 4096
    # WHEN packed
    batches = list(pack(source, SPEC, first_seq=0, max_keys=10_000, max_bytes=max_bytes))
    # THEN every batch but the last could not have taken one more item
    for batch, following in itertools.pairwise(batches):
        grown = batch.model_copy(update={"items": [*batch.items, following.items[0]]})
        # (pack counts a comma per item, one more than JSON has, so it may close 1 byte early)
        assert wire_bytes(grown) >= max_bytes


def test_every_batch_fits_max_bytes_with_non_ascii_prefixes_and_keys() -> None:
    # GIVEN a spec whose prefixes hold multi-byte characters (escaped in the ASCII body)
    spec = CopySpec(
        job_id="job-utf8",
        source=Location(bucket="src-bucket", prefix="données/"),
        destination=Location(bucket="dst-bucket", prefix="archivé/€/"),
    )
    source = [WorkItem(key=f"données/{i:04d}-ü€", size=1, etag='"e"') for i in range(200)]
    base = len(WorkBatch.of(batch_id("job-utf8", 0), spec, []).body())
    # WHEN packed under every cap in a range, so some batch lands exactly on the limit
    too_big = []
    for max_bytes in range(base + GROWTH_BYTES + 80, base + GROWTH_BYTES + 600):
        for batch in pack(source, spec, first_seq=0, max_keys=10_000, max_bytes=max_bytes):
            if wire_bytes(batch) > max_bytes:
                too_big.append((max_bytes, wire_bytes(batch)))
    # THEN no batch's body exceeds its cap
    assert too_big == []


def test_batches_are_numbered_from_first_seq() -> None:
    # GIVEN a listing resumed at sequence 7
    source = items(30)
    # WHEN packed
    batches = list(pack(source, SPEC, first_seq=7, max_keys=10, max_bytes=256 * 1024))
    # THEN ids carry the job id and consecutive sequence numbers from 7
    assert [b.batch_id for b in batches] == [
        "job-1:000000007",
        "job-1:000000008",
        "job-1:000000009",
    ]
    assert all(b.spec == SPEC for b in batches)


def test_packing_the_same_listing_twice_gives_identical_batches() -> None:
    # GIVEN one listing
    source = items(123, key_len=90)
    # WHEN packed twice with the same settings
    first = list(pack(source, SPEC, first_seq=3, max_keys=17, max_bytes=8 * 1024))
    second = list(pack(iter(source), SPEC, first_seq=3, max_keys=17, max_bytes=8 * 1024))
    # THEN both produce the same ids and the same items in each batch
    assert [b.model_dump_json() for b in first] == [b.model_dump_json() for b in second]
    assert batch_id("job-1", 3) == first[0].batch_id


def test_a_key_too_large_for_any_message_raises_value_error() -> None:
    # GIVEN a cap just above the empty batch and one item whose key cannot fit
    max_bytes = empty_batch_bytes(SPEC, 0) + 50
    huge = WorkItem(key="in/" + "k" * 500, size=1, etag='"e"')
    # WHEN / THEN packing raises rather than producing an oversized message
    with pytest.raises(ValueError, match="exceeds the message cap"):
        list(pack([huge], SPEC, first_seq=0, max_keys=10, max_bytes=max_bytes))


def test_empty_listing_yields_no_batches() -> None:
    assert list(pack([], SPEC, first_seq=0, max_keys=10, max_bytes=4096)) == []


def test_group_for_send_caps_entries_at_ten() -> None:
    # GIVEN 25 small bodies
    bodies = [f"body-{i}" for i in range(25)]
    # WHEN grouped with a total cap that never binds
    groups = list(group_for_send(bodies, max_total_bytes=256 * 1024))
    # THEN groups hold 10, 10, 5 bodies in the original order
    assert MAX_ENTRIES_PER_SEND == 10
    assert [len(g) for g in groups] == [10, 10, 5]
    assert [b for g in groups for b in g] == bodies


def test_group_for_send_caps_total_bytes_of_each_group() -> None:
    # GIVEN bodies of 100 bytes (some multi-byte characters)
    bodies = ["é" * 50] * 7 + ["a" * 100] * 7
    # WHEN grouped under a 350-byte total
    groups = list(group_for_send(bodies, max_total_bytes=350))
    # THEN every group holds at most 3 bodies (300 bytes) and nothing is lost
    assert all(sum(len(b.encode()) for b in g) <= 350 for g in groups)
    assert [len(g) for g in groups] == [3, 3, 3, 3, 2]
    assert [b for g in groups for b in g] == bodies


def test_group_for_send_of_nothing_yields_nothing() -> None:
    assert list(group_for_send([], max_total_bytes=1000)) == []


def test_batches_are_bounded_by_the_bytes_they_copy_and_large_objects_travel_alone() -> None:
    # GIVEN objects of 1, 1, 1 GiB, one of 6 GiB, and five small ones
    gib = 1024**3
    sizes = [gib, gib, gib, 6 * gib, *[1024] * 5]
    source = [WorkItem(key=f"in/{i:02d}", size=size, etag='"e"') for i, size in enumerate(sizes)]
    # WHEN packed with at most 2.5 GiB to copy per batch, objects of 5 GiB and more alone
    batches = list(
        pack(
            source,
            SPEC,
            first_seq=0,
            max_keys=100,
            max_bytes=256 * 1024,
            max_object_bytes=5 * gib // 2,
            solo_object_bytes=5 * gib,
        )
    )
    # THEN no batch copies more than the bound, and the large object has a batch of its own
    assert [[item.size for item in b.items] for b in batches] == [
        [gib, gib],
        [gib],
        [6 * gib],
        [1024] * 5,
    ]


@pytest.mark.parametrize("key_len", [20, 300])
def test_a_batch_still_fits_the_message_cap_as_its_deepest_remainder(key_len: int) -> None:
    # GIVEN batches packed right up to the message cap
    max_bytes = 16 * 1024
    batches = list(
        pack(items(400, key_len), SPEC, first_seq=0, max_keys=10_000, max_bytes=max_bytes)
    )
    # WHEN each goes on as a remainder of its last attempt (a longer id, a larger attempt,
    # every item's transient failures counted in it)
    deepest = [
        WorkBatch.of(
            f"{b.batch_id}~100",
            SPEC,
            [item.model_copy(update={"tries": 99}) for item in b.items],
            attempt=100,
            epoch=b.epoch,
        )
        for b in batches
    ]
    # THEN every one of them still fits
    assert all(wire_bytes(b) <= max_bytes for b in deepest)


def test_an_item_says_its_storage_class_only_when_it_is_not_standard() -> None:
    plain = WorkItem(key="a", size=1, etag="e")
    archived = WorkItem(key="a", size=1, etag="e", storage_class="GLACIER_IR")
    # the JSON (and so the batch's bytes) of a STANDARD object is what it always was
    assert item_bytes(plain) == len('{"key":"a","size":1,"etag":"e"}') + 1
    assert WorkItem.model_validate_json(json.dumps(archived.model_dump())) == archived


def test_a_copy_keeps_every_storage_class_but_the_default_and_the_archives() -> None:
    kept = {c: kept_class(c) for c in ("STANDARD", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")}
    assert kept == {
        "STANDARD": None,
        "GLACIER": None,
        "DEEP_ARCHIVE": None,
        "GLACIER_IR": "GLACIER_IR",
    }
    assert kept_class("STANDARD_IA") == "STANDARD_IA" and kept_class(None) is None
