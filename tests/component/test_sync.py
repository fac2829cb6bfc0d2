"""Sync jobs end to end (coordinator, copier, progress on moto): only new and changed objects
are copied, what the destination holds already is tallied as unchanged, objects only at the
destination are tallied as extra or, with ``delete_extra``, deleted unless rewritten since.

Listings give LastModified in whole seconds, in S3 as in moto. The source objects are written an
hour before the test (``freeze_time`` around the puts alone), so every copy is newer than its
source; a source rewritten "later" is written with the clock five minutes ahead.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from moto_helpers import job_message, receive_all, resume_falls_due, run_killed_before_checkpoint

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from progress.status import to_status
from s3migrator.aws import Aws
from s3migrator.job_status import QueueDepths
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobRecord, JobState
from s3migrator.resources import Resources
from s3migrator.selection import Tally
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkBatch

BIG = 9 * MiB  # copied in two parts (threshold 8 MiB, parts of 5 MiB): its ETag differs


def finished(store: JobStore, sqs: Any, resources: Resources, job_id: str) -> JobRecord:
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job(job_id)
    assert record is not None
    return record


def contents(s3: Any, bucket: str = "dst-bucket") -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def put(s3: Any, bucket: str, objects: dict[str, bytes], at: datetime | None = None) -> None:
    """Put the objects, written at ``at`` (default: an hour ago)."""
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    with freeze_time(at or datetime.now(UTC) - timedelta(hours=1)):
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def recording_client(aws: Aws) -> tuple[Any, list[str]]:
    """A real S3 client whose operation names are recorded as botocore emits them."""
    s3, calls, lock = aws.s3(), [], threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls.append(model.name)

    s3.meta.events.register("before-call.s3", record)
    return s3, calls


def sync(job_id: str, **kw: Any) -> JobMessage:
    return job_message(job_id, sync=True, **kw)


SOURCE = {"a.txt": b"alpha", "b.txt": b"bravo", "c.txt": b"charlie", "big.bin": b"B" * BIG}


def test_a_sync_copies_only_new_and_changed_objects_and_keeps_extras(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN a source copied by a first job, its large object in parts (another ETag)
    put(s3, "src-bucket", SOURCE)
    make_runner().run(job_message("job-1"))
    run_copier(threshold=8 * MiB, part_size=5 * MiB)
    assert finished(store, sqs, resources, "job-1").state is JobState.SUCCEEDED
    big_etag = s3.head_object(Bucket="src-bucket", Key="big.bin")["ETag"]
    assert s3.head_object(Bucket="dst-bucket", Key="big.bin")["ETag"] != big_etag
    # AND since then one source object rewritten (same size, other bytes), one added, and one
    # object written at the destination only
    put(s3, "src-bucket", {"b.txt": b"BRAVO"}, at=datetime.now(UTC) + timedelta(minutes=5))
    put(s3, "src-bucket", {"d.txt": b"delta"}, at=datetime.now(UTC))
    put(s3, "dst-bucket", {"only-there.txt": b"kept"})
    # WHEN a sync job runs and a copier drains its batches
    make_runner().run(sync("job-2"))
    copier_s3, calls = recording_client(aws)
    run_copier(copier_s3, threshold=8 * MiB, part_size=5 * MiB)
    record = finished(store, sqs, resources, "job-2")
    # THEN exactly the changed and the new object were copied, each with one CopyObject
    assert calls.count("CopyObject") == 2
    assert "UploadPartCopy" not in calls
    assert (record.listing.objects, record.counters.objects_copied) == (2, 2)
    assert record.state is JobState.SUCCEEDED
    assert contents(s3) == {
        **SOURCE,
        "b.txt": b"BRAVO",
        "d.txt": b"delta",
        "only-there.txt": b"kept",
    }
    # AND the rest is unchanged, the large object too, and the destination's own object is
    # tallied as extra and left alone
    unchanged_bytes = len(b"alpha") + len(b"charlie") + BIG
    assert record.listing.tally == Tally(unchanged=3, unchanged_bytes=unchanged_bytes, extra=1)
    assert record.counters.objects_deleted == 0


def test_a_sync_deletes_extras_its_patterns_name(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a source under data/ already at the destination, and two objects at the
    # destination only: one the job's patterns name, one they do not
    put(s3, "src-bucket", {"data/a.txt": b"alpha", "data/b.txt": b"bravo"})
    put(s3, "dst-bucket", {"data/a.txt": b"alpha", "data/b.txt": b"bravo"})
    put(s3, "dst-bucket", {"data/gone.txt": b"old", "other/keep.txt": b"mine"})
    # WHEN a sync job with delete_extra runs over data/ and a copier drains its batches
    make_runner().run(sync("job-1", delete_extra=True, select={"include": ["data/**"]}))
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN the named extra is deleted, the other kept, and nothing copied
    assert contents(s3) == {
        "data/a.txt": b"alpha",
        "data/b.txt": b"bravo",
        "other/keep.txt": b"mine",
    }
    assert record.counters.model_dump(include={"objects_copied", "objects_deleted"}) == {
        "objects_copied": 0,
        "objects_deleted": 1,
    }
    # AND the job succeeded at 100%, the deletion counted as its one object
    assert record.state is JobState.SUCCEEDED
    status = to_status(record, QueueDepths(), store)
    assert (status.objects_total, status.objects_deleted, status.percent) == (1, 1, 100)
    assert status.skipped == Tally(unchanged=2, unchanged_bytes=10)


def test_an_extra_rewritten_after_the_listing_is_kept_and_reported(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN two objects at the destination only, and a sync job with delete_extra listed
    put(s3, "src-bucket", {"a.txt": b"alpha"})
    put(s3, "dst-bucket", {"a.txt": b"alpha", "x-old.txt": b"old", "y-old.txt": b"old"})
    make_runner().run(sync("job-1", delete_extra=True))
    # WHEN one of them is rewritten before a copier takes the batch
    s3.put_object(Bucket="dst-bucket", Key="y-old.txt", Body=b"someone's new data")
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    # THEN the one listed as it is is deleted, the rewritten one kept
    assert contents(s3) == {"a.txt": b"alpha", "y-old.txt": b"someone's new data"}
    # AND the rewritten one is a failure saying the destination changed
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    assert (record.counters.objects_deleted, record.counters.objects_failed) == (1, 1)
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code, failure.delete) == ("y-old.txt", "DestinationChanged", True)


def test_a_sync_of_an_unchanged_bucket_sends_nothing(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a source of five objects copied by a first job
    objects = {f"k/{i}": b"v" * (i + 1) for i in range(5)}
    put(s3, "src-bucket", objects)
    make_runner().run(job_message("job-1"))
    run_copier()
    # WHEN a sync job runs
    assert make_runner().run(sync("job-2")) == RunEnd.LISTED
    # THEN it sends no batch at all
    assert receive_all(sqs, resources.work_queue_url) == []
    # AND it succeeds with nothing to copy, every object tallied as unchanged
    record = finished(store, sqs, resources, "job-2")
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.listing.next_seq) == (0, 0)
    assert record.listing.tally == Tally(unchanged=5, unchanged_bytes=15)


def test_a_sync_group_sent_before_a_crash_is_sent_again_as_it_was_defined(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN a source of two objects the destination holds and two it does not, and an extra
    put(s3, "src-bucket", {"a": b"1", "b": b"22", "c": b"333", "d": b"4444"})
    put(s3, "dst-bucket", {"a": b"1", "b": b"22", "zz-extra": b"old"})
    # AND a sync run killed after sending its group (one batch per item) but before its
    # checkpoint
    runner = make_runner(batch_max_keys=1)
    assert run_killed_before_checkpoint(runner, sync("job-1", delete_extra=True)) == RunEnd.RETRYING
    # WHEN the resume runs
    resume_falls_due(store, clock)
    run = runner.take("job-1", None)
    assert run is not None
    assert runner.work(run) == RunEnd.LISTED
    # THEN each batch was sent again with the items it was defined with (not the source's
    # range listed again, which holds the unchanged objects and not the extra)
    messages = receive_all(sqs, resources.work_queue_url)
    sent: dict[bool, dict[str, list[tuple[str, bool]]]] = {False: {}, True: {}}
    for message in messages:
        batch = WorkBatch.model_validate_json(message["Body"])
        sent[batch.resent][batch.batch_id] = [(i.key, i.delete) for i in batch.items]
    assert sent[True] == sent[False]
    assert sorted(sent[True].values()) == [[("c", False)], [("d", False)], [("zz-extra", True)]]
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=resources.work_queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    # AND once a copier drains both sends, the job succeeds with exact counters
    run_copier()
    record = finished(store, sqs, resources, "job-1")
    assert contents(s3) == {"a": b"1", "b": b"22", "c": b"333", "d": b"4444"}
    assert record.state is JobState.SUCCEEDED
    assert (
        record.listing.objects,
        record.counters.objects_copied,
        record.counters.objects_deleted,
        record.counters.objects_failed,
    ) == (3, 2, 1, 0)
    assert record.listing.tally == Tally(unchanged=2, unchanged_bytes=3)
