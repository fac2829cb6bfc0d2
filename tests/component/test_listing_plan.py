"""A job's listing plan end to end (coordinator, copier, progress on moto): selection filters,
archived objects, and the exact tally of what the listing left out across a stop.

Moto keeps no RestoreStatus in a listing (``OptionalObjectAttributes`` is accepted and
ignored), and refuses to copy an archived object that is not restored with S3's own error,
``ObjectNotInActiveTierError``. Times of writes are set with ``freeze_time`` around the puts
alone, so date filters are tested without waiting.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from moto_helpers import fill, job_message, receive_all, resume_falls_due

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from progress.status import to_status
from s3migrator.job_status import QueueDepths
from s3migrator.jobstore import JobStore
from s3migrator.models import JobRecord, JobState
from s3migrator.resources import Resources
from s3migrator.selection import Tally
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch


def finished(store: JobStore, sqs: Any, resources: Resources, job_id: str) -> JobRecord:
    """The job as the progress run leaves it."""
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job(job_id)
    assert record is not None
    return record


def keys_in(s3: Any, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


SIZED = {
    "data/2024/a.csv": 10,
    "data/2024/b.json": 10,  # excluded by pattern
    "data/2024/tmp/c.csv": 10,  # excluded by pattern
    "data/small.csv": 4,  # under min_size
    "data/min.csv": 5,  # exactly min_size
    "data/max.csv": 50,  # exactly max_size
    "data/big.csv": 51,  # over max_size
    "logs/x.csv": 10,  # not included
    "top.csv": 10,
    "topx.csv": 10,  # not included (the pattern names top.csv only)
}
SELECTED = {"data/2024/a.csv", "data/min.csv", "data/max.csv", "top.csv"}


def test_filters_select_exactly_what_they_say(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN objects in several folders, suffixes and sizes, and one in STANDARD_IA
    fill(s3, "src-bucket", {key: b"x" * size for key, size in SIZED.items()})
    fill(s3, "src-bucket", {"data/ia.csv": b"x" * 10}, StorageClass="STANDARD_IA")
    # AND a job whose filters include, exclude, bound sizes (inclusively) and name a class,
    # with a date window holding every object
    now = datetime.now(UTC)
    select = {
        "include": ["data/**", "top.csv"],
        "exclude": ["**/tmp/**", "*.json"],
        "min_size": 5,
        "max_size": 50,
        "storage_classes": ["STANDARD"],
        "modified_after": now - timedelta(days=1),
        "modified_before": now + timedelta(days=1),
    }
    # WHEN the job runs and a copier drains its batches
    make_runner(batch_max_keys=2).run(job_message("job-1", select=select))
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN the destination holds exactly the selected objects, and the job succeeded
    assert keys_in(s3, "dst-bucket") == SELECTED
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.counters.objects_copied) == (4, 4)
    assert record.listing.bytes == 10 + 5 + 50 + 10
    # AND every other object is tallied as filtered, and shown so
    assert record.listing.tally == Tally(filtered=len(SIZED) + 1 - 4)
    assert to_status(record, QueueDepths()).skipped.filtered == 7


def test_dates_select_objects_written_strictly_inside_the_window(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN objects written in 2020, at exactly 2022-01-01, in mid-2022, and now
    s3.create_bucket(Bucket="src-bucket")
    for key, when in (("old", "2020-01-01"), ("edge", "2022-01-01"), ("mid", "2022-06-01")):
        with freeze_time(when):
            s3.put_object(Bucket="src-bucket", Key=key, Body=b"abc")
    s3.put_object(Bucket="src-bucket", Key="new", Body=b"abc")
    # WHEN a job selects those written after 2022-01-01 and before 2023
    window = {
        "modified_after": datetime(2022, 1, 1, tzinfo=UTC),
        "modified_before": datetime(2023, 1, 1, tzinfo=UTC),
    }
    make_runner().run(job_message("job-1", select=window))
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN only the object written strictly inside the window is copied
    assert keys_in(s3, "dst-bucket") == {"mid"}
    assert (record.state, record.listing.objects) == (JobState.SUCCEEDED, 1)
    assert record.listing.tally == Tally(filtered=3)

    # WHEN another job selects only objects written after tomorrow
    tomorrow = {"modified_after": datetime.now(UTC) + timedelta(days=1)}
    make_runner().run(job_message("job-2", destination="dst-bucket-2", select=tomorrow))
    run_copier()
    later = finished(store, sqs, resources, "job-2")
    # THEN it copies nothing and succeeds with nothing to do
    assert keys_in(s3, "dst-bucket-2") == set()
    assert (later.state, later.listing.objects, later.listing.next_seq) == (
        JobState.SUCCEEDED,
        0,
        0,
    )
    assert later.listing.tally == Tally(filtered=4)


def archive_source(s3: Any) -> dict[str, bytes]:
    """Two archived objects (7 bytes) and two readable ones; returns the readable ones."""
    readable = {"warm/a.txt": b"alpha", "warm/b.txt": b"bravo!"}
    fill(s3, "src-bucket", readable)
    fill(s3, "src-bucket", {"cold/glacier.bin": b"123"}, StorageClass="GLACIER")
    fill(s3, "src-bucket", {"cold/deep.bin": b"4567"}, StorageClass="DEEP_ARCHIVE")
    return readable


def test_archived_objects_are_skipped_and_shown_by_default(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a GLACIER and a DEEP_ARCHIVE object, neither restored, beside readable objects
    readable = archive_source(s3)
    # WHEN a job runs without saying what to do with archived objects
    make_runner().run(job_message("job-1"))
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN the readable objects are copied, the archived ones left out, and the job succeeds
    assert keys_in(s3, "dst-bucket") == set(readable)
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.counters.objects_failed) == (2, 0)
    # AND the archived objects are tallied, with their bytes, and shown as skipped
    assert record.listing.tally == Tally(archived=2, archived_bytes=7)
    status = to_status(record, QueueDepths(), store)
    assert (status.skipped.archived, status.skipped.archived_bytes, status.percent) == (2, 7, 100)


def test_archived_objects_a_job_copies_are_attempted_and_reported(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN the same objects, and a job that says archived objects are copied
    readable = archive_source(s3)
    make_runner().run(job_message("job-1", archived="copy"))
    # WHEN a copier drains its batches
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN the archived objects were attempted and each is a failure with S3's reason
    assert keys_in(s3, "dst-bucket") == set(readable)
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    assert (record.listing.objects, record.counters.objects_copied) == (4, 2)
    failures = store.batches.failures("job-1")
    assert sorted((f.key, f.code) for f in failures) == [
        ("cold/deep.bin", "ObjectNotInActiveTierError"),
        ("cold/glacier.bin", "ObjectNotInActiveTierError"),
    ]
    assert record.listing.tally == Tally()


def test_the_tally_is_exact_across_a_stop_and_resume(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN 80 objects of which every other one is excluded: 40 selected, in 14 batches of at
    # most 3, sent in two groups (10 batches, then 4)
    objects = {f"obj-{i:03d}.{'keep' if i % 2 == 0 else 'skip'}": b"x" * (i + 1) for i in range(80)}
    fill(s3, "src-bucket", objects)
    kept = {key for key in objects if key.endswith(".keep")}
    message = job_message("job-1", select={"exclude": ["*.skip"]})
    # WHEN a run is asked to stop: it stops after sending its first group
    first = make_runner(batch_max_keys=3)
    first.stop.set()
    assert first.run(message) == RunEnd.STOPPED
    # THEN its checkpoint stands after the 30th selected key (obj-058), and its tally counts
    # the 29 keys excluded before it, not those the batching read past it
    partial = store.get_job("job-1")
    assert partial is not None
    assert (partial.listing.start_after, partial.listing.objects) == ("obj-058.keep", 30)
    assert partial.listing.tally == Tally(filtered=29)

    # WHEN the resume is taken up by another run, and a copier drains the batches
    resume_falls_due(store, clock)
    second = make_runner(batch_max_keys=3)
    run = second.take("job-1", None)
    assert run is not None
    assert second.work(run) == RunEnd.LISTED
    # THEN every selected key was sent once (the first group not sent again)
    messages = receive_all(sqs, resources.work_queue_url)
    sent = [WorkBatch.model_validate_json(m["Body"]) for m in messages]
    assert Counter(item.key for batch in sent for item in batch.items) == Counter(kept)
    for sent_message in messages:
        sqs.change_message_visibility(
            QueueUrl=resources.work_queue_url,
            ReceiptHandle=sent_message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    # AND once copied, the job succeeds with exact totals: 40 copied, 40 filtered
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.listing.next_seq, record.counters.objects_copied) == (
        40,
        14,
        40,
    )
    assert record.listing.tally == Tally(filtered=40)
