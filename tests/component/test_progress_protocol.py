"""The progress run and redrive under interleavings: a stale run never finishes a reopened job,
one job's error never stops the run for the others, percent never goes backwards, and redrive
is idempotent and resumable."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_helpers import fill, job_message, job_record, receive_all

from progress.refresh import advance, refresh
from progress.status import statuses
from s3migrator.aws import Aws
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch, WorkItem

OBJECTS = {"a": b"1", "b": b"22", "c": b"333"}


def job_with_failures(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    """job-1: three objects, two deleted before the copy: it completes with two failures."""
    fill(s3, "src-bucket", OBJECTS)
    make_runner().run(job_message("job-1"))
    s3.delete_object(Bucket="src-bucket", Key="b")
    s3.delete_object(Bucket="src-bucket", Key="c")
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_failed) == (JobState.COMPLETED_WITH_FAILURES, 2)


def put_back(s3: Any, *keys: str) -> None:
    """The cause of job_with_failures' failures fixed: these objects are at the source again."""
    for key in keys:
        s3.put_object(Bucket="src-bucket", Key=key, Body=OBJECTS[key])


def redrive_killed_after_reopening(store: JobStore, sqs: Any, resources: Resources) -> None:
    """A redrive of job-1 killed once it had reopened the job, before it sent anything."""

    def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("coordinator.redrive.send_batches", killed)
        with pytest.raises(RuntimeError, match="killed"):
            redrive(store, sqs, resources, "job-1", Settings())


def test_a_stale_progress_run_never_finishes_a_job_a_redrive_reopened(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job whose every batch is counted, read by a slow progress run before it finished
    fill(s3, "src-bucket", {"a": b"1", "b": b"22"})
    make_runner().run(job_message("job-1"))
    s3.delete_object(Bucket="src-bucket", Key="b")
    copy_all()
    seen_by_the_slow_run = store.get_job("job-1")
    assert seen_by_the_slow_run is not None
    # AND another run finished it meanwhile, and a redrive reopened it (the object is back)
    refresh(store, sqs, resources)
    s3.put_object(Bucket="src-bucket", Key="b", Body=b"22")
    redrive(store, sqs, resources, "job-1", Settings())
    # WHEN the slow run goes on with what it read
    advance(store, seen_by_the_slow_run)
    # THEN the reopened job still runs, and the redrive finishes it as it should
    reopened = store.get_job("job-1")
    assert reopened is not None and reopened.state is JobState.RUNNING
    copy_all()
    (done,) = refresh(store, sqs, resources)
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 2, 0)


def test_one_jobs_error_never_stops_the_progress_run_for_the_others(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two jobs whose copies are done, and a table that fails every write about the first
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1"))
    make_runner().run(job_message("job-2", destination="other-bucket"))
    copy_all()
    finish = store.finish

    def broken_for_job_1(job_id: str, *args: Any, **kwargs: Any) -> bool:
        if job_id == "job-1":
            raise RuntimeError("throttled for good")
        return finish(job_id, *args, **kwargs)

    monkeypatch.setattr(store, "finish", broken_for_job_1)
    # WHEN the progress function runs
    reported = refresh(store, sqs, resources)
    # THEN the run reports both jobs and finishes the second one
    assert {s.job_id: s.state for s in reported} == {
        "job-1": JobState.RUNNING,
        "job-2": JobState.SUCCEEDED,
    }


def test_a_job_that_cannot_be_read_never_stops_the_progress_run_for_the_others(
    aws: Aws, s3: Any, sqs: Any, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN two jobs whose copies are done, and a table whose reads of the first one fail
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1"))
    make_runner().run(job_message("job-2", destination="other-bucket"))
    copy_all()
    progress_ddb = aws.dynamodb()

    def unreadable_job_1(params: dict[str, Any], **_: Any) -> None:
        if "job-1" in str(params.get("TransactItems", "")):
            raise ClientError({"Error": {"Code": "ValidationException"}}, "TransactGetItems")

    progress_ddb.meta.events.register(
        "before-parameter-build.dynamodb.TransactGetItems", unreadable_job_1
    )
    # WHEN the progress function runs
    reported = refresh(JobStore(progress_ddb, resources.table_name), sqs, resources)
    # THEN it finishes the second job all the same
    assert {s.job_id: s.state for s in reported} == {"job-2": JobState.SUCCEEDED}


def test_percent_never_goes_back_while_the_listing_grows(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a listing stopped after 10 batches, all copied, and looked at
    fill(s3, "src-bucket", {f"k{i:03d}": b"x" for i in range(200)})
    stopped = make_runner(batch_max_keys=10)
    stopped.stop.set()
    stopped.run(job_message("job-1"))
    copy_all()
    (looked_before,) = statuses(store, sqs, resources)
    (before,) = refresh(store, sqs, resources)
    # WHEN the listing goes on (the total grows tenfold), then the copies
    make_runner(batch_max_keys=10).run(job_message("job-1"))
    (looked_during,) = statuses(store, sqs, resources)
    copy_all()
    (looked_after,) = statuses(store, sqs, resources)
    # THEN what was shown never went back: the copy step's first value while the total was
    # unknown, then the fraction of it
    shown = [looked_before.percent, before.percent, looked_during.percent, looked_after.percent]
    assert shown[:2] == [6, 6]
    assert shown == sorted(shown) and shown[-1] == 99


def test_a_redrive_reopening_a_job_is_shown_as_a_phase_of_its_own(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    put_back(s3, "b")
    redrive(store, sqs, resources, "job-1", Settings())
    (status,) = statuses(store, sqs, resources)
    assert (status.state, status.phase, status.percent) == (JobState.RUNNING, Phase.REDRIVING, 6)


def test_two_redrives_started_together_end_the_job(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a job with two failures, one of them fixed, and a slow redrive that read the job
    # just before a quick one ran to its end
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    put_back(s3, "b")
    slow = JobStore(aws.dynamodb(), resources.table_name)
    reopen = slow.reopen

    def quick_redrive_first(*args: Any, **kwargs: Any) -> bool:
        redrive(store, sqs, resources, "job-1", Settings())
        copy_all()
        refresh(store, sqs, resources)
        return reopen(*args, **kwargs)

    monkeypatch.setattr(slow, "reopen", quick_redrive_first)
    # WHEN the slow redrive goes on, and the copiers and the progress function run
    try:
        redrive(slow, sqs, resources, "job-1", Settings())
    except Exception as exc:
        assert "changed state meanwhile" in str(exc) or "completed with failures" in str(exc)
    copy_all()
    refresh(store, sqs, resources)
    (status,) = statuses(store, sqs, resources)
    # THEN the job ended, with the fixed object copied and the other still failed, once
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.COMPLETED_WITH_FAILURES,
        2,
        1,
    )
    assert [f.key for f in store.batches.failures("job-1")] == ["c"]


def test_a_redrive_interrupted_after_reopening_is_finished_by_running_it_again(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
) -> None:
    # GIVEN a job with two failures, both fixed, and a redrive killed once it had reopened the
    # job and before it sent anything
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    put_back(s3, "b", "c")
    redrive_killed_after_reopening(store, sqs, resources)
    assert receive_all(sqs, resources.work_queue_url) == []
    # WHEN the redrive is run again, and the copiers and the progress function run
    sent = redrive(store, sqs, resources, "job-1", Settings())
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN it sent the two objects, and the job succeeded
    assert sent == 2
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_a_redrive_interrupted_after_reopening_is_finished_even_if_nobody_runs_it_again(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    make_coordinator: Any,
    copy_all: Any,
) -> None:
    # GIVEN a job with two failures, both fixed, and a redrive killed once it had reopened the
    # job and before it sent anything
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    put_back(s3, "b", "c")
    redrive_killed_after_reopening(store, sqs, resources)
    # WHEN progress runs within the grace, then after it, a coordinator serves the jobs queue,
    # the copiers and the progress function run
    refresh(store, sqs, resources)
    assert receive_all(sqs, resources.jobs_queue_url) == []
    clock.advance(Settings().resume_grace_s + 1)
    refresh(store, sqs, resources)
    make_coordinator().serve(once=True)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the job succeeded with exact counters
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_a_batch_body_carries_any_key_s3_accepts(sqs: Any, resources: Resources) -> None:
    # GIVEN a batch whose keys hold every character SQS refuses in a body (C0 controls but tab,
    # line feed and carriage return; U+FFFE and U+FFFF)
    refused = [*range(1, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF]
    items = [WorkItem(key=f"k/{chr(c)}/{c}", size=1, etag='"e"') for c in refused]
    spec = job_record("job-1").spec
    assert spec is not None
    batch = WorkBatch.of("job-1:000000000", spec, items)
    # WHEN its body is sent through the work queue and received
    body = batch.body()
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=body)
    (message,) = receive_all(sqs, resources.work_queue_url)
    # THEN the body is plain ASCII, and the keys arrive exactly
    assert body.isascii()
    assert WorkBatch.model_validate_json(message["Body"]) == batch
