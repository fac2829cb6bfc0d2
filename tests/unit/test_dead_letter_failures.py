"""A dead-lettered batch's objects fail as what they were: a deletion stays a deletion, a version
stays that version, so a redrive of them does what the batch was to do."""

from __future__ import annotations

from progress.deadletters import DEAD_LETTERED, dead_letter_failures
from s3migrator.models import CopySpec, Location
from s3migrator.work import WorkBatch, WorkItem

SPEC = CopySpec(
    job_id="job-1", source=Location(bucket="src-bucket"), destination=Location(bucket="dst-bucket")
)


def test_each_dead_lettered_object_keeps_what_it_was() -> None:
    # GIVEN a batch of a plain copy, a deletion, a version, a delete marker and a restore
    items = [
        WorkItem(key="a", size=1, etag='"a"', storage_class="STANDARD_IA"),
        WorkItem(key="b", size=2, etag='"b"', delete=True),
        WorkItem(key="c", size=3, etag='"c"', version_id="v1"),
        WorkItem(key="c", size=0, etag="", version_id="v2", marker=True),
        WorkItem(key="d", size=4, etag='"d"', storage_class="GLACIER", restore=True),
    ]
    batch = WorkBatch.of("job-1:000000000", SPEC, items)
    # WHEN it is dead-lettered after 5 deliveries
    failures = dead_letter_failures(batch, 5)
    # THEN each failure says what its object was, and why it failed
    assert [
        (f.key, f.delete, f.version_id, f.marker, f.restore, f.storage_class) for f in failures
    ] == [
        ("a", False, None, False, False, "STANDARD_IA"),
        ("b", True, None, False, False, None),
        ("c", False, "v1", False, False, None),
        ("c", False, "v2", True, False, None),
        ("d", False, None, False, True, "GLACIER"),
    ]
    assert {(f.code, f.attempts) for f in failures} == {(DEAD_LETTERED, 5)}
