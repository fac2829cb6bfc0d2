"""The job side of the protocol under SQS's real behaviour: duplicates, redeliveries, lost
messages, restarts without end, and a process that receives the same job twice."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_helpers import fill, job_message, receive_all, resume_falls_due

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Phase
from s3migrator.resources import Resources
from s3migrator.work import WorkBatch


def source_objects(count: int) -> dict[str, bytes]:
    return {f"data/{i:04d}.txt": b"x" * (i % 13 + 1) for i in range(count)}


def deliveries(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    """The one message on the queue, received ``count`` times (as SQS redelivers it)."""
    received = []
    for _ in range(count):
        (message,) = sqs.receive_message(
            QueueUrl=queue_url, VisibilityTimeout=0, MessageSystemAttributeNames=["SenderId"]
        )["Messages"]
        received.append(message)
    assert len({m["MessageId"] for m in received}) == 1
    return received


def sent_keys(sqs: Any, resources: Resources) -> Counter[str]:
    batches = [
        WorkBatch.model_validate_json(m["Body"]) for m in receive_all(sqs, resources.work_queue_url)
    ]
    return Counter(item.key for batch in batches for item in batch.items)


def test_a_job_message_without_an_id_is_one_job_however_often_it_is_delivered(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job message without a job id (the README's minimal message), delivered twice
    fill(s3, "src-bucket", source_objects(250))
    body = job_message(None).model_dump_json(exclude_defaults=True)
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    first, second = deliveries(sqs, resources.jobs_queue_url, 2)
    # WHEN a coordinator stopping mid-listing handles one delivery and another coordinator the
    # other
    stopping = make_coordinator(batch_max_keys=10)
    stopping.stop.set()
    stopping.handle(first)
    make_coordinator(batch_max_keys=10).handle(second)
    # THEN there is one job, named after the message's id, and it is listed in full
    (job,) = store.list_jobs()
    assert job.job_id == first["MessageId"]
    assert job.listing.complete


def test_a_job_whose_message_is_gone_is_resumed_by_the_progress_function(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, clock: Any
) -> None:
    # GIVEN a job whose coordinator died mid-listing (its lease ran out) and whose job message
    # is gone (dead-lettered, or expired)
    fill(s3, "src-bucket", source_objects(250))
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    (message,) = deliveries(sqs, resources.jobs_queue_url, 1)
    dying = make_coordinator(batch_max_keys=10)
    dying.stop.set()
    dying.handle(message)
    sqs.purge_queue(QueueUrl=resources.jobs_queue_url)
    clock.advance(3600)
    partial = store.get_job("job-1")
    assert partial is not None and not partial.listing.complete
    # WHEN the scheduled progress function runs, then a coordinator serves the jobs queue
    refresh(store, sqs, resources)
    make_coordinator(batch_max_keys=10).serve(once=True)
    # THEN the job was resumed and listed to the end
    done = store.get_job("job-1")
    assert done is not None and done.listing.complete


def test_a_coordinator_stopped_again_and_again_never_dead_letters_its_job(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job of 70 batches (7 checkpointed sends), more than the jobs queue's receive limit
    fill(s3, "src-bucket", source_objects(700))
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    # WHEN every coordinator that takes it is stopped after one send (a deploy, Spot, scale-in)
    for _ in range(20):
        messages = sqs.receive_message(
            QueueUrl=resources.jobs_queue_url,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["SenderId"],
        )
        if not messages.get("Messages"):
            break
        stopping = make_coordinator(batch_max_keys=10)
        stopping.stop.set()
        stopping.handle(messages["Messages"][0])
    # THEN the job is listed to the end and nothing was dead-lettered
    job = store.get_job("job-1")
    assert job is not None and job.listing.complete and job.listing.objects == 700
    assert receive_all(sqs, resources.jobs_dlq_url) == []


def test_one_coordinator_never_lists_a_job_twice_at_once(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN one coordinator whose first listing call of job-1 is held up, and the job's message
    # delivered to it twice
    objects = source_objects(250)
    fill(s3, "src-bucket", objects)
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    first, second = deliveries(sqs, resources.jobs_queue_url, 2)
    coordinator = make_coordinator(batch_max_keys=10)
    listing_started, go_on = threading.Event(), threading.Event()
    calls = Counter[str]()

    def hold_the_listing(**_: Any) -> None:
        calls["list"] += 1
        if calls["list"] == 2:  # the first call is preflight's; the second is the listing's
            listing_started.set()
            assert go_on.wait(30)

    coordinator.runner.clients.default.meta.events.register(
        "before-call.s3.ListObjectsV2", hold_the_listing
    )
    # WHEN the first delivery is being listed and the second is handled meanwhile
    worker = threading.Thread(target=coordinator.handle, args=(first,))
    worker.start()
    assert listing_started.wait(30)
    coordinator.handle(second)
    go_on.set()
    worker.join(30)
    # THEN every key went to the copiers exactly once, and the checkpoint counts each once
    keys = sent_keys(sqs, resources)
    assert set(keys) == set(objects)
    assert set(keys.values()) == {1}
    job = store.get_job("job-1")
    assert job is not None
    assert (job.listing.complete, job.listing.objects, job.listing.next_seq) == (True, 250, 25)


def test_the_listing_waits_while_the_work_queue_is_full(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN 250 objects (25 batches) and a work queue that may hold 10 batches at most
    objects = source_objects(250)
    fill(s3, "src-bucket", objects)
    runner = make_runner(batch_max_keys=10, max_backlog_batches=10)
    drained: list[WorkBatch] = []
    seen_depths: list[int] = []

    def copiers_catch_up(_seconds: float) -> bool:
        # While the listing waits, copiers drain the queue (here: this test, by hand).
        messages = receive_all(sqs, resources.work_queue_url)
        seen_depths.append(len(messages))
        for message in messages:
            drained.append(WorkBatch.model_validate_json(message["Body"]))
            sqs.delete_message(
                QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return False  # not asked to stop

    runner.pause = copiers_catch_up
    # WHEN the job is listed
    runner.run(job_message("job-1"))
    # THEN the listing paused whenever the queue was full, never ran more than one group
    # ahead, and still sent every key exactly once
    drained += [
        WorkBatch.model_validate_json(m["Body"]) for m in receive_all(sqs, resources.work_queue_url)
    ]
    assert seen_depths and max(seen_depths) == 10
    keys = Counter(item.key for batch in drained for item in batch.items)
    assert set(keys) == set(objects) and set(keys.values()) == {1}


def test_a_preflight_that_meets_a_passing_error_is_tried_again_not_failed(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    clock: Any,
) -> None:
    # GIVEN a source that answers the preflight's first listing with a 500 (botocore's retries
    # spent)
    fill(s3, "src-bucket", source_objects(3))
    runner = make_runner()
    failed_once: list[bool] = []

    def internal_error_once(**_: Any) -> None:
        if not failed_once:
            failed_once.append(True)
            raise ClientError({"Error": {"Code": "InternalError"}}, "ListObjectsV2")

    runner.clients.default.meta.events.register("before-call.s3.ListObjectsV2", internal_error_once)
    # WHEN the coordinator runs the job, then runs it again as its resume asks
    first = runner.run(job_message("job-1"))
    record = store.get_job("job-1")
    assert record is not None
    assert (first, record.state, record.phase) == (RunEnd.RETRYING, JobState.RUNNING, Phase.STARTED)
    resume_falls_due(store, clock)
    again = make_runner().take("job-1")
    assert again is not None
    make_runner().work(again)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN the job was not failed for it, and succeeded
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, 3)


def test_a_run_works_from_the_job_as_it_stands_once_it_holds_the_lease(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a job whose listing has begun
    fill(s3, "src-bucket", {f"k{i:04d}": b"x" for i in range(300)})
    first = make_runner(batch_max_keys=10)
    first.stop.set()
    first.run(job_message("job-1"))
    # AND a run A that read it, and before it took the lease another run listed a group more
    # and stopped (releasing its lease)
    acquire = store.acquire_lease
    moved_on: list[bool] = []

    def another_run_first(*args: Any, **kwargs: Any) -> bool:
        if not moved_on:
            moved_on.append(True)
            other = make_runner(batch_max_keys=10)
            other.stop.set()
            run = other.take("job-1")
            assert run is not None
            assert other.work(run) is RunEnd.STOPPED
        return acquire(*args, **kwargs)

    monkeypatch.setattr(store, "acquire_lease", another_run_first)
    runner = make_runner(batch_max_keys=10)
    run = runner.take("job-1")
    monkeypatch.undo()
    # WHEN A works the job
    assert run is not None
    ended = runner.work(run)
    # THEN it carried on from where the other run stopped, to the end of the listing
    assert ended is RunEnd.LISTED
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied) == (JobState.SUCCEEDED, 300)


def test_a_resume_scheduled_while_the_table_throttles_is_tried_again(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    # GIVEN a run that meets a passing S3 error, and a table that throttles its first attempt
    # to schedule the resume
    fill(s3, "src-bucket", {"a": b"A"})
    runner = make_runner()
    listings = [1]

    def internal_error_once(**_: Any) -> None:
        if listings[0]:
            listings[0] -= 1
            raise ClientError({"Error": {"Code": "InternalError"}}, "ListObjectsV2")

    runner.clients.default.meta.events.register("before-call.s3.ListObjectsV2", internal_error_once)
    throttles = [1]

    def throttled_once(params: dict[str, Any], **_: Any) -> None:
        if throttles[0] and "resume_due" in params.get("UpdateExpression", ""):
            throttles[0] -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem"
            )

    store._ddb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", throttled_once)
    # WHEN the run ends on the error
    ended = runner.run(job_message("job-1"))
    # THEN its resume is scheduled all the same and its lease given up
    record = store.get_job("job-1")
    assert record is not None
    assert (ended, throttles[0]) == (RunEnd.RETRYING, 0)
    assert record.resume_due is not None and record.resumes == 1
    assert record.lease_until <= store.now()
