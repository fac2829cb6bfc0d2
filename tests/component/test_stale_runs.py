"""Runs that read the job long ago, or in parts: a stale watchdog, a stale coordinator run, a
progress run reading counters apart, a redrive run again with other settings; and the failure
view while a redrive is under way."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from copier_drain import drain
from moto_helpers import fill, job_message, resume_falls_due
from test_progress_protocol import job_with_failures, put_back, redrive_killed_after_reopening

from coordinator.jobs import RunEnd
from progress.refresh import advance, refresh
from progress.status import statuses
from progress.watchdog import resume_stalled
from s3migrator.aws import Aws
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.jobstore import JobStore
from s3migrator.jobstore.codec import shard_key
from s3migrator.models import JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import shard_of


def stalled_view(record: Any) -> Any:
    """What a progress run read of a job whose coordinator had gone: run 0, still listing,
    its lease run out, no resume due."""
    return record.model_copy(
        update={
            "state": JobState.RUNNING,
            "phase": Phase.COPYING,
            "epoch": 0,
            "lease_until": 0.0,
            "resume_due": None,
            "resumes": 5,
            "listing": record.listing.model_copy(update={"complete": False}),
        }
    )


def test_a_stale_watchdog_never_fails_a_job_a_redrive_reopened(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a progress run that read job-1 stalled in its first run, after too many resumes
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    record = store.get_job("job-1")
    assert record is not None
    stale = stalled_view(record)
    # AND meanwhile the job ended and a redrive reopened it
    put_back(s3, "b", "c")
    redrive(store, sqs, resources, "job-1", Settings())
    # WHEN that progress run gets to act on what it read
    resume_stalled(store, sqs, resources.jobs_queue_url, stale, Settings(max_resumes=5))
    # THEN the reopened run goes on, and ends as its copies say
    after = store.get_job("job-1")
    assert after is not None and (after.state, after.epoch) == (JobState.RUNNING, 1)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, 3)


def test_a_stale_watchdog_never_fails_a_job_a_coordinator_came_back_to(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a progress run that read job-1 stalled after too many resumes
    fill(s3, "src-bucket", {f"k{i:04d}": b"x" for i in range(2500)})
    stopped = make_runner(batch_max_keys=10)
    stopped.stop.set()
    stopped.run(job_message("job-1"))
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.RUNNING
    assert record.needs_coordinator
    stale = stalled_view(record)
    # AND a coordinator that took the job up again meanwhile (it holds the lease)
    runner = make_runner()
    run = runner.take("job-1")
    assert run is not None
    # WHEN that progress run acts on what it read
    resume_stalled(store, sqs, resources.jobs_queue_url, stale, Settings(max_resumes=5))
    # THEN the job is not failed: the coordinator goes on with it
    after = store.get_job("job-1")
    assert after is not None and after.state is JobState.RUNNING


def test_a_progress_run_never_finishes_a_job_on_counters_read_apart(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN one batch of three objects, and a copier for which "c" first fails transiently (so
    # the batch is counted with "c" left to a remainder batch, which is counted in another shard)
    fill(s3, "src-bucket", {"a": b"A", "b": b"B", "c": b"C"})
    make_runner().run(job_message("job-1"))
    copier_s3 = aws.s3()
    slowed: list[str] = []

    def slow_down_once(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "c" and not slowed:
            slowed.append("c")
            raise ClientError({"Error": {"Code": "SlowDown"}}, "CopyObject")

    copier_s3.meta.events.register("before-parameter-build.s3.CopyObject", slow_down_once)
    # AND a progress run whose read of the counter shards DynamoDB answers in two parts (as
    # BatchGetItem may: the rest comes back as UnprocessedKeys), the batch and its remainder
    # both counted in between
    progress_ddb = aws.dynamodb()
    late = shard_key("job-1", shard_of("job-1:000000000~2"))
    split: list[bool] = []

    def answer_in_two_parts(params: dict[str, Any], **_: Any) -> Any:
        ((table, request),) = json.loads(params["body"])["RequestItems"].items()
        if split or late not in request["Keys"] or len(request["Keys"]) == 1:
            return None
        split.append(True)
        first = [key for key in request["Keys"] if key != late]
        answered = aws.dynamodb().batch_get_item(
            RequestItems={table: {"Keys": first, "ConsistentRead": True}}
        )
        drain(aws, resources, store, copier_s3, retry_delay_base_s=0.0, idle_exit_s=2.0)
        parsed = {
            "Responses": answered["Responses"],
            "UnprocessedKeys": {table: {"Keys": [late], "ConsistentRead": True}},
        }
        return SimpleNamespace(status_code=200, headers={}, content=b""), parsed

    progress_ddb.meta.events.register("before-call.dynamodb.BatchGetItem", answer_in_two_parts)
    progress_store = JobStore(progress_ddb, resources.table_name)
    # WHEN that progress run and the copiers go on to the end
    refresh(progress_store, sqs, resources)
    drain(aws, resources, store, copier_s3, retry_delay_base_s=0.0, idle_exit_s=2.0)
    (status,) = refresh(store, sqs, resources)
    # THEN the job succeeded with every object copied, as it was
    assert (status.state, status.objects_copied, status.objects_failed, status.error) == (
        JobState.SUCCEEDED,
        3,
        0,
        None,
    )


def test_a_failure_a_redrive_has_not_decided_yet_is_still_listed(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job whose "b" failed for good, then was redriven; the redrive batch's copy of "b"
    # fails transiently, so the batch is counted with "b" passed on to a remainder
    fill(s3, "src-bucket", {"a": b"A", "b": b"B"})
    make_runner().run(job_message("job-1"))
    s3.delete_object(Bucket="src-bucket", Key="b")
    drain(aws, resources, store)
    refresh(store, sqs, resources)
    s3.put_object(Bucket="src-bucket", Key="b", Body=b"B")
    redrive(store, sqs, resources, "job-1", Settings())
    copier_s3 = aws.s3()

    def slow_down(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "b":
            raise ClientError({"Error": {"Code": "SlowDown"}}, "CopyObject")

    copier_s3.meta.events.register("before-parameter-build.s3.CopyObject", slow_down)
    drain(aws, resources, store, copier_s3)
    # WHEN the job is looked at meanwhile
    (status,) = statuses(store, sqs, resources)
    # THEN "b" is still counted failed, and still listed as failed
    assert status.objects_failed == 1
    assert [f.key for f in store.batches.failures("job-1")] == ["b"]
    assert [f.key for f in status.first_failures] == ["b"]


def test_a_redrive_killed_after_defining_its_batches_and_run_again_with_other_settings_ends(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job with two failures, both fixed, and a redrive run with one key per batch that
    # was killed once it had defined its batches, before it reopened the job
    fill(s3, "src-bucket", {"a": b"A", "b": b"B", "c": b"C"})
    make_runner().run(job_message("job-1"))
    for key in ("b", "c"):
        s3.delete_object(Bucket="src-bucket", Key=key)
    drain(aws, resources, store)
    refresh(store, sqs, resources)
    for key in ("b", "c"):
        s3.put_object(Bucket="src-bucket", Key=key, Body=key.encode())
    killed_store = JobStore(aws.dynamodb(), resources.table_name)

    def killed(**_: Any) -> None:
        raise RuntimeError("killed before reopening")

    killed_store._ddb.meta.events.register("before-call.dynamodb.UpdateItem", killed)
    with pytest.raises(RuntimeError, match="killed"):
        redrive(killed_store, sqs, resources, "job-1", Settings(batch_max_keys=1))
    # WHEN the redrive is run again with the default settings, and the copiers run
    redrive(store, sqs, resources, "job-1", Settings())
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources)
    # THEN the job succeeded with every object copied
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_a_stale_coordinator_run_never_sets_a_redriving_job_back_to_copying(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    copy_all: Any,
) -> None:
    # GIVEN a job with two failures, fixed, and a redrive killed once it had reopened the job
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    put_back(s3, "b", "c")
    redrive_killed_after_reopening(store, sqs, resources)
    # AND a coordinator run that read the job long ago, when it had just started, and only now
    # got its lease
    clock.advance(Settings().resume_grace_s + Settings().lease_s)
    runner = make_runner()
    run = runner.take("job-1")
    assert run is not None
    run = dataclasses.replace(
        run, record=run.record.model_copy(update={"phase": Phase.STARTED, "epoch": 0})
    )
    # WHEN that run goes on, then a coordinator resumes the job, and the copiers run
    runner.work(run)
    clock.advance(Settings().lease_s + 1)
    run = make_runner().take("job-1")
    assert run is not None
    make_runner().work(run)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the redrive's objects were sent and copied: the job succeeded
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_a_coordinator_run_that_lost_its_lease_never_fails_the_job(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    copy_all: Any,
) -> None:
    # GIVEN a job whose first run met a passing error (one resume left before it fails)
    fill(s3, "src-bucket", {"a": b"A", "b": b"B", "c": b"C"})
    runner_a = make_runner(max_resumes=1)
    errors_left = [1]

    def internal_error(**_: Any) -> None:
        if errors_left[0]:
            errors_left[0] -= 1
            raise ClientError({"Error": {"Code": "InternalError"}}, "ListObjectsV2")

    runner_a.clients.default.meta.events.register("before-call.s3.ListObjectsV2", internal_error)
    runner_a.run(job_message("job-1"))
    # AND a run A that took the job up again and stalled past its lease, while run B took over
    resume_falls_due(store, clock)
    run_a = runner_a.take("job-1")
    assert run_a is not None
    clock.advance(Settings().lease_s + 1)
    runner_b = make_runner()
    run_b = runner_b.take("job-1")
    assert run_b is not None
    # WHEN run A meets another passing error
    errors_left[0] = 1
    ended = runner_a.work(run_a)
    # THEN it leaves the job to B, which copies it to the end
    record = store.get_job("job-1")
    assert record is not None and (ended, record.state) == (RunEnd.LOST, JobState.RUNNING)
    runner_b.work(run_b)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, 3)


def test_graceful_stops_are_not_counted_as_failed_resumes(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    # GIVEN a job whose coordinator runs are asked to stop again and again (scale-in, deploys,
    # a long wait for the work queue to drain)
    fill(s3, "src-bucket", {f"k{i:04d}": b"x" for i in range(2500)})
    for _ in range(3):
        stopped = make_runner(batch_max_keys=10)
        stopped.stop.set()
        run = stopped.take("job-1") if store.get_job("job-1") else None
        if run is None:
            stopped.run(job_message("job-1"))
        else:
            stopped.work(run)
    # THEN none of them counts toward failing the job
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.RUNNING
    assert record.resumes == 0


def test_a_stale_progress_run_never_sets_the_percent_of_a_reopened_run(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a progress run that read job-1 in its first run, half copied
    job_with_failures(s3, sqs, store, resources, make_runner, copy_all)
    record = store.get_job("job-1")
    assert record is not None
    half = record.counters.model_copy(
        update={"objects_copied": 1, "objects_failed": 0, "batches_done": 0}
    )
    stale = record.model_copy(
        update={"state": JobState.RUNNING, "phase": Phase.COPYING, "percent": 6, "counters": half}
    )
    stale.listing = stale.listing.model_copy(update={"objects": 2})
    # AND meanwhile the job ended and a redrive reopened it
    put_back(s3, "b", "c")
    redrive(store, sqs, resources, "job-1", Settings())
    (before,) = statuses(store, sqs, resources)
    # WHEN that progress run stores what it computed
    advance(store, stale)
    # THEN the reopened run's percent is untouched
    (after,) = statuses(store, sqs, resources)
    assert after.percent == before.percent
