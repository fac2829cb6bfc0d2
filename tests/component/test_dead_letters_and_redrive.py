"""Dead letters and redrive against moto: failure records, exact counters, jobs that finish."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from moto_helpers import depth, fill, job_message, receive_all

from coordinator.batching import batch_id
from progress.deadletters import DEAD_LETTERED, sweep_dead_letters
from progress.refresh import refresh
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.errors import S3MigratorError
from s3migrator.jobstore import JobStore
from s3migrator.models import Counters, JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch

STACK = "s3migrator"


def objects_named(*keys: str) -> dict[str, bytes]:
    return {key: f"body of {key}".encode() * (i + 1) for i, key in enumerate(keys)}


def etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def dead_letter(sqs: Any, resources: Resources, wanted: str, copies: int = 1) -> WorkBatch:
    """Move one batch from the work queue to the work DLQ, as SQS's redrive policy would.

    The other batches are made visible again for a copier.
    """
    moved: WorkBatch | None = None
    for message in receive_all(sqs, resources.work_queue_url):
        batch = WorkBatch.model_validate_json(message["Body"])
        if batch.batch_id == wanted:
            for _ in range(copies):
                sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
            sqs.delete_message(
                QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            moved = batch
        else:
            sqs.change_message_visibility(
                QueueUrl=resources.work_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
    assert moved is not None, f"batch {wanted} is not in the work queue"
    return moved


def queued_batch_ids(sqs: Any, resources: Resources) -> list[str]:
    """The ids of the batches waiting in the work queue, left visible for a copier."""
    ids = []
    for message in receive_all(sqs, resources.work_queue_url):
        ids.append(WorkBatch.model_validate_json(message["Body"]).batch_id)
        sqs.change_message_visibility(
            QueueUrl=resources.work_queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    return sorted(ids)


def counters(store: JobStore, job_id: str = "job-1") -> Counters:
    job = store.get_job(job_id)
    assert job is not None
    return job.counters


def settings(**kw: Any) -> Settings:
    return Settings(stack_name=STACK, **kw)


def test_dead_lettered_batch_is_counted_failed_once_and_the_job_completes_at_100(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN 6 objects listed into 2 batches, the second of which SQS dead-lettered
    objects = objects_named("a", "b", "c", "d", "e", "f")
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=3).run(job_message("job-1"))
    poisoned = dead_letter(sqs, resources, batch_id("job-1", 1))
    # WHEN progress is refreshed before the first batch is copied
    (status,) = refresh(store, sqs, resources)
    # THEN the dead-lettered batch became one DeadLettered failure record per object
    failures = sorted(store.batches.failures("job-1"), key=lambda f: f.key)
    assert [f.key for f in failures] == ["d", "e", "f"]
    assert {f.code for f in failures} == {DEAD_LETTERED}
    assert [(f.size, f.etag) for f in failures] == [
        (len(objects[k]), etag(objects[k])) for k in "def"
    ]
    assert all(f.attempts >= 1 and poisoned.batch_id in f.message for f in failures)
    # AND it was counted as failed, the DLQ is empty, and the job still runs below 100
    assert (status.objects_copied, status.objects_failed) == (0, 3)
    assert status.state is JobState.RUNNING
    assert status.percent == 6 + int(0.5 * 93)
    assert depth(sqs, resources.work_dlq_url) == 0
    # WHEN the same batch turns up in the DLQ twice more and is swept again
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=poisoned.model_dump_json())
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=poisoned.model_dump_json())
    swept = sweep_dead_letters(store, sqs, resources.work_dlq_url, resources.work_queue_url)
    # THEN both copies are removed but nothing more is counted
    assert swept == 2
    assert depth(sqs, resources.work_dlq_url) == 0
    assert counters(store).model_dump() == {
        "objects_copied": 0,
        "objects_failed": 3,
        "objects_deleted": 0,
        "objects_verified": 0,
        "bytes_copied": 0,
        "batches_done": 1,
        "batches_spawned": 0,
        "batches_extra": 0,
    }
    assert len(list(store.batches.failures("job-1"))) == 3
    # WHEN the other batch is copied and progress refreshed
    copy_all()
    (done,) = refresh(store, sqs, resources)
    # THEN the job completed with failures at 100, not stuck at 99
    assert (done.state, done.phase, done.percent) == (
        JobState.COMPLETED_WITH_FAILURES,
        Phase.FINISHED,
        100,
    )
    assert (done.objects_total, done.objects_copied, done.objects_failed) == (6, 3, 3)
    assert done.error is None
    assert counters(store).batches_done == 2


def test_duplicate_dead_letters_in_one_sweep_count_once(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of one batch that landed in the DLQ twice
    fill(s3, "src-bucket", objects_named("a", "b"))
    make_runner().run(job_message("job-1"))
    dead_letter(sqs, resources, batch_id("job-1", 0), copies=2)
    # WHEN progress is refreshed
    (status,) = refresh(store, sqs, resources)
    # THEN the batch counted once and the job finished with its two failures
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert (status.objects_copied, status.objects_failed) == (0, 2)
    assert counters(store).batches_done == 1
    assert depth(sqs, resources.work_dlq_url) == 0


def test_dead_letter_of_a_batch_a_copier_already_counted_adds_no_failure(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job whose only batch a copier copied and counted
    fill(s3, "src-bucket", objects_named("a", "b"))
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    copy_all()
    # AND a copy of that batch's message in the DLQ (its delete was lost, it was redelivered)
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
    # WHEN progress sweeps the DLQ
    (status,) = refresh(store, sqs, resources)
    # THEN the dead letter is removed without a failure: the job succeeded with exact counters
    assert depth(sqs, resources.work_dlq_url) == 0
    assert list(store.batches.failures("job-1")) == []
    assert (status.state, status.percent) == (JobState.SUCCEEDED, 100)
    assert (status.objects_copied, status.objects_failed) == (2, 0)
    assert counters(store).batches_done == 1


def test_redrive_copies_the_failed_objects_and_the_job_succeeds_with_exact_counters(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN 6 objects in 2 batches, one object of each deleted after listing, then copied
    objects = objects_named("a", "b", "c", "d", "e", "f")
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=3).run(job_message("job-1"))
    for key in ("b", "e"):
        s3.delete_object(Bucket="src-bucket", Key=key)
    copy_all()
    (first,) = refresh(store, sqs, resources)
    assert (first.state, first.objects_copied, first.objects_failed) == (
        JobState.COMPLETED_WITH_FAILURES,
        4,
        2,
    )
    assert {f.code for f in store.batches.failures("job-1")} == {"NoSuchKey"}
    # WHEN the objects are put back and the job is redriven (asked for one object per batch:
    # a redrive packs with the default bounds whatever the settings, so both go in one batch)
    fill(s3, "src-bucket", {k: objects[k] for k in ("b", "e")})
    sent = redrive(store, sqs, resources, "job-1", settings(batch_max_keys=1))
    # THEN the job runs again, waiting for one numbered redrive batch
    assert sent == 2
    reopened = store.get_job("job-1")
    assert reopened is not None
    assert (reopened.state, reopened.phase, reopened.finished_at) == (
        JobState.RUNNING,
        Phase.REDRIVING,
        None,
    )
    assert reopened.counters.batches_extra == 1
    assert queued_batch_ids(sqs, resources) == [batch_id("job-1", 0, redrive=True)]
    # AND it is not finished again before they are copied
    (waiting,) = refresh(store, sqs, resources)
    assert waiting.state is JobState.RUNNING
    assert waiting.percent < 100
    # WHEN a copier copies them and progress is refreshed
    copy_all()
    (done,) = refresh(store, sqs, resources)
    # THEN the job succeeded with every object copied and no failure left
    assert (done.state, done.percent) == (JobState.SUCCEEDED, 100)
    assert (done.objects_total, done.objects_copied, done.objects_failed) == (6, 6, 0)
    assert done.bytes_copied == done.bytes_total == sum(len(v) for v in objects.values())
    assert list(store.batches.failures("job-1")) == []
    assert counters(store).model_dump() == {
        "objects_copied": 6,
        "objects_failed": 0,
        "objects_deleted": 0,
        "objects_verified": 6,
        "bytes_copied": sum(len(v) for v in objects.values()),
        "batches_done": 3,
        "batches_spawned": 0,
        "batches_extra": 1,
    }
    assert {o["Key"] for o in s3.list_objects_v2(Bucket="dst-bucket").get("Contents", [])} == set(
        objects
    )
    assert s3.get_object(Bucket="dst-bucket", Key="e")["Body"].read() == objects["e"]


def test_redrive_is_refused_for_a_running_job_even_with_failures(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of 2 batches, one dead-lettered and one still queued
    fill(s3, "src-bucket", objects_named("a", "b", "c", "d"))
    make_runner(batch_max_keys=2).run(job_message("job-1"))
    dead_letter(sqs, resources, batch_id("job-1", 1))
    # WHEN it is redriven while still running
    with pytest.raises(S3MigratorError, match="running"):
        redrive(store, sqs, resources, "job-1", settings())
    # THEN the dead letters were swept, but nothing was sent and the job was not reopened
    assert {f.key for f in store.batches.failures("job-1")} == {"c", "d"}
    assert queued_batch_ids(sqs, resources) == [batch_id("job-1", 0)]
    job = store.get_job("job-1")
    assert job is not None
    assert (job.state, job.counters.batches_extra) == (JobState.RUNNING, 0)


def test_redrive_is_refused_for_a_succeeded_job(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job whose only batch a copier counted in full, so it succeeded
    fill(s3, "src-bucket", {"a": b"1", "b": b"22"})
    make_runner().run(job_message("job-1"))
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert status.state is JobState.SUCCEEDED
    before = store.get_job("job-1")
    # WHEN it is redriven
    with pytest.raises(S3MigratorError, match="succeeded"):
        redrive(store, sqs, resources, "job-1", settings())
    # THEN the job is untouched and no redrive batch went out
    assert store.get_job("job-1") == before
    assert queued_batch_ids(sqs, resources) == []


def test_redrive_of_an_unknown_job_is_refused(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    with pytest.raises(S3MigratorError, match="no job 'ghost'"):
        redrive(store, sqs, resources, "ghost", settings())
    assert depth(sqs, resources.work_queue_url) == 0


def test_dead_lettered_objects_are_copied_by_a_redrive(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job whose only batch was dead-lettered and swept: completed with failures
    objects = objects_named("x/1", "x/2", "x/3")
    fill(s3, "src-bucket", objects)
    make_runner().run(job_message("job-1"))
    dead_letter(sqs, resources, batch_id("job-1", 0))
    (first,) = refresh(store, sqs, resources)
    assert (first.state, first.percent, first.objects_failed) == (
        JobState.COMPLETED_WITH_FAILURES,
        100,
        3,
    )
    # WHEN the job is redriven and a copier runs
    assert redrive(store, sqs, resources, "job-1", settings()) == 3
    copy_all()
    (done,) = refresh(store, sqs, resources)
    # THEN every dead-lettered object was copied, its failure record gone
    assert (done.state, done.percent) == (JobState.SUCCEEDED, 100)
    assert (done.objects_copied, done.objects_failed) == (3, 0)
    assert list(store.batches.failures("job-1")) == []
    assert counters(store).model_dump() == {
        "objects_copied": 3,
        "objects_failed": 0,
        "objects_deleted": 0,
        "objects_verified": 3,
        "bytes_copied": sum(len(v) for v in objects.values()),
        "batches_done": 2,
        "batches_spawned": 0,
        "batches_extra": 1,
    }
    for key, body in objects.items():
        assert s3.get_object(Bucket="dst-bucket", Key=key)["Body"].read() == body


def test_redrive_that_still_fails_keeps_counters_exact_and_a_later_redrive_finishes(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN 4 objects in 2 batches, "a" and "c" deleted after listing, copied with 2 failures
    objects = objects_named("a", "b", "c", "d")
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=2).run(job_message("job-1"))
    for key in ("a", "c"):
        s3.delete_object(Bucket="src-bucket", Key=key)
    copy_all()
    refresh(store, sqs, resources)
    # WHEN only "a" is put back and the job redriven
    fill(s3, "src-bucket", {"a": objects["a"]})
    assert redrive(store, sqs, resources, "job-1", settings()) == 2
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN it completed with failures again, with "c" as the only failure
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert (status.objects_copied, status.objects_failed) == (3, 1)
    assert status.objects_copied + status.objects_failed == status.objects_total == 4
    assert status.error is None
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code, failure.http_status) == ("c", "NoSuchKey", 404)
    assert (failure.size, failure.etag) == (len(objects["c"]), etag(objects["c"]))
    # AND no counter went negative
    assert min(counters(store).model_dump().values()) >= 0
    assert counters(store).batches_done == 3
    # WHEN "c" is put back and the job redriven a second time
    fill(s3, "src-bucket", {"c": objects["c"]})
    assert redrive(store, sqs, resources, "job-1", settings()) == 1
    # THEN the new batch is numbered after the first redrive's, so it is not taken for a repeat
    assert queued_batch_ids(sqs, resources) == [batch_id("job-1", 1, redrive=True)]
    copy_all()
    (done,) = refresh(store, sqs, resources)
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 4, 0)
    assert list(store.batches.failures("job-1")) == []
    assert counters(store).model_dump() == {
        "objects_copied": 4,
        "objects_failed": 0,
        "objects_deleted": 0,
        "objects_verified": 4,
        "bytes_copied": sum(len(v) for v in objects.values()),
        "batches_done": 4,
        "batches_spawned": 0,
        "batches_extra": 2,
    }


def test_dead_lettered_redrive_batch_adds_no_second_failure(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job whose only batch was dead-lettered, then redriven
    fill(s3, "src-bucket", objects_named("a", "b"))
    make_runner().run(job_message("job-1"))
    dead_letter(sqs, resources, batch_id("job-1", 0))
    refresh(store, sqs, resources)
    redrive(store, sqs, resources, "job-1", settings())
    # WHEN the redrive batch is dead-lettered too and progress refreshed
    dead_letter(sqs, resources, batch_id("job-1", 0, redrive=True))
    (status,) = refresh(store, sqs, resources)
    # THEN the job completed with failures again, its objects counted failed once, not twice
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert (status.objects_copied, status.objects_failed) == (0, 2)
    assert status.error is None
    failures = list(store.batches.failures("job-1"))
    assert sorted(f.key for f in failures) == ["a", "b"]
    assert all(batch_id("job-1", 0, redrive=True) in f.message for f in failures)
    assert counters(store).model_dump() == {
        "objects_copied": 0,
        "objects_failed": 2,
        "objects_deleted": 0,
        "objects_verified": 0,
        "bytes_copied": 0,
        "batches_done": 2,
        "batches_spawned": 0,
        "batches_extra": 1,
    }
