"""A batch's failures fit in its record: room kept per item, long messages cut when many fail."""

from __future__ import annotations

from coordinator.batching import item_bytes, pack
from s3migrator.failures import (
    CUT_MARK,
    MAX_FAILURE_MESSAGE,
    MESSAGE_FLOOR_BYTES,
    RECORD_BYTES,
    FailureRecord,
    failures_text,
    fitted,
    reserved_bytes,
    stored_bytes,
)
from s3migrator.jobstore.codec import items_text
from s3migrator.models import CopySpec, Location
from s3migrator.work import WorkItem

SPEC = CopySpec(
    job_id="job-1",
    source=Location(bucket="src-bucket"),
    destination=Location(bucket="dst-bucket"),
)
ETAG = '"0123456789abcdef0123456789abcdef"'


def failure(key: str, message: str, code: str = "AccessDenied") -> FailureRecord:
    return FailureRecord(key=key, code=code, message=message, http_status=403, attempts=3)


def all_fail(items: list[WorkItem], message: str) -> list[FailureRecord]:
    return [item.failure("AccessDenied", message, attempts=10, http_status=403) for item in items]


def test_failures_that_fit_are_kept_whole() -> None:
    # GIVEN three failures with the longest message a failure keeps
    failures = [failure(f"k{i}", "é" * MAX_FAILURE_MESSAGE) for i in range(3)]
    # WHEN they are fitted to a record with room for them
    kept = fitted(failures, RECORD_BYTES)
    # THEN nothing is cut
    assert kept == failures


def test_the_longest_messages_are_cut_first_and_short_ones_stay_whole() -> None:
    # GIVEN two short messages and two long ones, and room for less than all of them
    failures = [
        failure("a", "Access Denied"),
        failure("b", "x" * 300),
        failure("c", "NoSuchKey"),
        failure("d", "y" * 400),
    ]
    room = stored_bytes(failures_text(failures)) - 500
    # WHEN they are fitted
    kept = fitted(failures, room)
    # THEN they fit, the short messages are whole, and the long ones are cut to one length
    assert stored_bytes(failures_text(kept)) <= room
    assert [f.message for f in kept][0::2] == ["Access Denied", "NoSuchKey"]
    cut = [f.message for f in kept][1::2]
    assert all(m.endswith(CUT_MARK) for m in cut)
    assert cut[0].removesuffix(CUT_MARK) == "x" * (len(cut[0]) - 1)
    assert len(cut[0]) == len(cut[1])
    # AND everything but the message is as it was
    assert [f.model_copy(update={"message": ""}) for f in kept] == [
        f.model_copy(update={"message": ""}) for f in failures
    ]


def test_a_thousand_short_keys_make_one_batch_whose_failures_all_fit_its_record() -> None:
    # GIVEN a thousand keys of a usual length
    items = [
        WorkItem(key=f"data/{i % 16:02d}/object-{i:07d}.bin", size=1024, etag=ETAG)
        for i in range(1000)
    ]
    # WHEN the coordinator packs them with a cap of a thousand keys
    batches = list(pack(items, SPEC, first_seq=0, max_keys=1000, max_bytes=256 * 1024))
    # THEN they travel as one batch
    assert [len(b.items) for b in batches] == [1000]
    # AND when every object fails with the longest message (two bytes a character), the
    # failures are fitted to what the record has beside the items, keeping the floor
    (batch,) = batches
    room = RECORD_BYTES - stored_bytes(items_text(batch.items))
    kept = fitted(all_fail(batch.items, "é" * MAX_FAILURE_MESSAGE), room)
    assert stored_bytes(failures_text(kept)) <= room
    assert min(stored_bytes(f.message) for f in kept) >= MESSAGE_FLOOR_BYTES - 4


def test_batches_of_long_or_non_ascii_keys_are_closed_before_their_failures_could_overflow() -> (
    None
):
    # GIVEN keys of 1,024 bytes, non-ASCII, and versions, with no key cap that binds
    for stem in ("k" * 1017, "données/" + "€😀" * 100):
        items = [
            WorkItem(key=f"{i:06d}-{stem}", size=1, etag=ETAG, version_id="v" * 32)
            for i in range(3000)
        ]
        for batch in pack(items, SPEC, first_seq=0, max_keys=10_000, max_bytes=256 * 1024):
            # WHEN every object of a batch fails with the longest message
            room = RECORD_BYTES - stored_bytes(items_text(batch.items))
            kept = fitted(all_fail(batch.items, "é" * MAX_FAILURE_MESSAGE), room)
            # THEN the record's items and failures fit, and no message falls below the floor
            assert stored_bytes(items_text(batch.items)) + stored_bytes(failures_text(kept)) <= (
                RECORD_BYTES
            )
            assert min(stored_bytes(f.message) for f in kept) >= MESSAGE_FLOOR_BYTES - 4


def test_the_room_kept_per_item_covers_its_failure_with_the_floor_message() -> None:
    # GIVEN an item with every field a failure repeats, and a code of the longest kept
    item = WorkItem(
        key="k" * 1024, size=2**40, etag=ETAG, version_id="v" * 1024, storage_class="GLACIER_IR"
    )
    longest = item.failure("C" * 200, "m" * MESSAGE_FLOOR_BYTES, attempts=1000, http_status=503)
    # THEN the room kept for it holds the item as the record stores it and that failure
    assert len(longest.code) == 64
    needed = stored_bytes(items_text([item])) + stored_bytes(failures_text([longest]))
    assert needed <= reserved_bytes(item_bytes(item))


def test_a_code_is_cut_in_bytes_and_a_message_in_characters() -> None:
    record = FailureRecord(key="k", code="Ü" * 40, message="m" * 1000)
    assert stored_bytes(record.code) <= 64 and record.code == "Ü" * 32
    assert len(record.message) == MAX_FAILURE_MESSAGE
