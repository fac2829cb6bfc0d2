"""A huge object's parts copied by many copiers at once: the interleavings of ``copier.split``.

Each test drives copiers message by message (``Worker.handle``), ordering them with the split
copier's step hook, so every interleaving is the one named, not a race that may or may not
happen.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_helpers import fill, job_message

from copier.fates import Fate
from copier.process import built_worker
from copier.split import COMPLETION_CLAIM_S, JOB_ENDED
from copier.worker import Worker
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.part_work import WORK, PartBatch, UploadState
from s3migrator.resources import Resources
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkBatch

# Five 5 MiB parts (the last 3 MiB), two parts per part batch: three part batches.
HUGE = 23 * MiB
PARENT = "job-1:000000000"


def settings() -> Settings:
    return Settings(
        copy_concurrency=4,
        part_concurrency=4,
        multipart_threshold_bytes=8 * MiB,
        part_size_bytes=5 * MiB,
        split_object_bytes=16 * MiB,
        part_batch_bytes=10 * MiB,
        messages_in_flight=1,
        work_visibility_s=30,
        wait_time_s=0,
        idle_exit_s=0.01,
        retry_delay_base_s=0,
    )


@contextmanager
def copier(aws: Aws, resources: Resources, store: JobStore, s3: Any = None) -> Iterator[Worker]:
    with built_worker(settings(), aws, resources, store=store, s3=s3) as worker:
        yield worker


def calls_of(aws: Aws) -> tuple[Any, Counter[str]]:
    """A real S3 client whose operations are counted as botocore emits them."""
    s3 = aws.s3()
    calls = Counter[str]()
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    s3.meta.events.register("before-call.s3", record)
    return s3, calls


def take(sqs: Any, resources: Resources) -> list[dict[str, Any]]:
    """Every visible work message, with its receive count (hidden a minute meanwhile)."""
    taken: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=resources.work_queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            return taken
        taken.extend(messages)


def kind(message: dict[str, Any]) -> str:
    work = WORK.validate_json(message["Body"])
    return work.batch_id


def listed_huge(s3: Any, make_runner: Any, size: int = HUGE) -> bytes:
    """A source holding one huge object, listed into its parent batch."""
    body = os.urandom(size)
    fill(s3, "src-bucket", {"huge.bin": body})
    make_runner(solo_object_bytes=MiB).run(job_message("job-1"))
    return body


def handle_all(worker: Worker, sqs: Any, resources: Resources) -> list[Fate]:
    """Handle every visible message once, in the order SQS gives them; their fates."""
    return [worker.handle(message).fate for message in take(sqs, resources)]


def drain(worker: Worker, sqs: Any, resources: Resources) -> None:
    while handle_all(worker, sqs, resources):
        pass


def counts(store: JobStore) -> tuple[int, int, int]:
    job = store.get_job("job-1")
    assert job is not None
    return job.counters.objects_copied, job.counters.objects_failed, job.counters.batches_done


def show(sqs: Any, resources: Resources, messages: list[dict[str, Any]]) -> None:
    """Make taken messages visible again (as SQS does once their visibility runs out); those
    deleted meanwhile are gone."""
    for message in messages:
        with suppress(sqs.exceptions.ReceiptHandleIsInvalid):
            sqs.change_message_visibility(
                QueueUrl=resources.work_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )


def open_uploads(s3: Any) -> list[str]:
    return [
        u["UploadId"] for u in s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", [])
    ]


def test_a_huge_object_goes_out_as_part_batches_and_is_counted_once_when_complete(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN one listed huge object
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    with copier(aws, resources, store, copier_s3) as worker:
        # WHEN a copier takes its batch
        (parent,) = take(sqs, resources)
        assert worker.handle(parent).fate is Fate.DELETE
        # THEN it started one upload and sent three part batches, and counted nothing yet
        taken = take(sqs, resources)
        parts = sorted(kind(m) for m in taken)
        assert parts == [f"{PARENT}.p0001", f"{PARENT}.p0002", f"{PARENT}.p0003"]
        assert counts(store) == (0, 0, 0)
        show(sqs, resources, taken)
        # WHEN the part batches are copied
        drain(worker, sqs, resources)
    # THEN the object is whole, completed once, and counted once as copied
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert calls["CreateMultipartUpload"] == 1
    assert calls["UploadPartCopy"] == 5
    assert calls["CompleteMultipartUpload"] == 1
    assert counts(store) == (1, 0, 1)
    assert open_uploads(s3) == []
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.percent, status.bytes_copied) == (JobState.SUCCEEDED, 100, HUGE)


def test_a_parent_delivered_to_two_copiers_at_once_makes_one_upload(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's batch, delivered twice
    body = listed_huge(s3, make_runner)
    (first,) = take(sqs, resources)
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
    (second,) = take(sqs, resources)
    copier_s3, calls = calls_of(aws)
    with (
        copier(aws, resources, store, copier_s3) as one,
        copier(aws, resources, store, copier_s3) as two,
    ):
        fates: list[Fate] = []

        def other_first(step: str, _batch: str) -> None:
            # Copier one has created its upload; copier two records its own before it.
            if step == "created" and not fates:
                fates.append(two.handle(second).fate)

        assert one.split is not None
        one.split.step = other_first
        # WHEN copier one handles its delivery, copier two's running in between
        fates.append(one.handle(first).fate)
        # THEN both messages are settled, one upload is recorded, copier one's is aborted
        assert fates == [Fate.DELETE, Fate.DELETE]
        record = store.uploads.get("job-1", PARENT)
        assert record is not None and record.sent
        assert open_uploads(s3) == [record.upload_id]
        # AND its part batches were sent once (copier one found them sent)
        taken = take(sqs, resources)
        assert sorted(kind(m) for m in taken) == [
            f"{PARENT}.p0001",
            f"{PARENT}.p0002",
            f"{PARENT}.p0003",
        ]
    # WHEN a copier copies them
    with copier(aws, resources, store, copier_s3) as worker:
        show(sqs, resources, taken)
        drain(worker, sqs, resources)
    # THEN the object is whole, completed once, counted once
    assert calls["CreateMultipartUpload"] == 2
    assert calls["AbortMultipartUpload"] == 1
    assert calls["CompleteMultipartUpload"] == 1
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)
    assert open_uploads(s3) == []


def dispatched(aws: Aws, sqs: Any, store: JobStore, resources: Resources, s3: Any = None) -> None:
    """The parent handled: the upload started and its part batches in the queue."""
    with copier(aws, resources, store, s3) as worker:
        (parent,) = take(sqs, resources)
        assert worker.handle(parent).fate is Fate.DELETE


def test_a_completer_that_dies_before_counting_is_finished_by_the_next_delivery(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    # GIVEN a huge object whose part batches a copier copies, dying right after it completed
    # the upload and before it counted the parent
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    with copier(aws, resources, store, copier_s3) as dying:
        assert dying.split is not None

        def die(step: str, _batch: str) -> None:
            if step == "completed":
                raise RuntimeError("killed after completing")

        dying.split.step = die
        taken = take(sqs, resources)
        with pytest.raises(RuntimeError, match="killed after completing"):
            for message in taken:
                dying.handle(message)
    assert calls["CompleteMultipartUpload"] == 1
    assert counts(store) == (0, 0, 0)
    # WHEN its message comes back to another copier (and the completion claim ran out)
    show(sqs, resources, taken)
    with copier(aws, resources, store, copier_s3) as next_one:
        record = store.uploads.get("job-1", PARENT)
        assert record is not None and record.all_done and record.state is UploadState.OPEN
        clock.advance(COMPLETION_CLAIM_S + 1)
        drain(next_one, sqs, resources)
    # THEN it recognises the completed object and counts the parent once
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)
    closed = store.uploads.get("job-1", PARENT)
    assert closed is not None and closed.state is UploadState.COMPLETED
    assert open_uploads(s3) == []


def test_a_part_batch_delivered_twice_is_copied_once(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches in the queue, the first of them delivered twice
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    first = messages[f"{PARENT}.p0001"]
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
    (duplicate,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
    with (
        copier(aws, resources, store, copier_s3) as one,
        copier(aws, resources, store, copier_s3) as two,
    ):
        fates: list[Fate] = []

        def duplicate_meanwhile(step: str, _batch: str) -> None:
            if step == "copied" and not fates:
                fates.append(two.handle(duplicate).fate)

        assert one.split is not None
        one.split.step = duplicate_meanwhile
        # WHEN copier two takes the duplicate while copier one copies it
        fates.append(one.handle(first).fate)
        # THEN the duplicate is hidden (the claim), the first counted done
        assert fates == [Fate.LATER, Fate.DELETE]
        assert calls["UploadPartCopy"] == 2
        # AND a late delivery of it, once done, copies nothing
        sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
        (late,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
        assert two.handle(late).fate is Fate.DELETE
        assert calls["UploadPartCopy"] == 2
        # WHEN the rest is copied
        for message in (messages[f"{PARENT}.p0002"], messages[f"{PARENT}.p0003"]):
            assert two.handle(message).fate is Fate.DELETE
    # THEN each part was copied once and the object counted once
    assert calls["UploadPartCopy"] == 5
    assert calls["CompleteMultipartUpload"] == 1
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)


def source_changed(**_: Any) -> None:
    raise ClientError(
        {
            "Error": {
                "Code": "PreconditionFailed",
                "Message": "At least one of the pre-conditions you specified did not hold",
            },
            "ResponseMetadata": {"HTTPStatusCode": 412},
        },
        "UploadPartCopy",
    )


def test_a_part_of_a_changed_source_aborts_the_upload_and_fails_the_object_once(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches in the queue, its first part batch done
    listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    with copier(aws, resources, store, copier_s3) as worker:
        assert worker.handle(messages[f"{PARENT}.p0001"]).fate is Fate.DELETE
        # AND S3 refusing its parts from now on (the source changed: its listed ETag no
        # longer matches; moto itself does not check UploadPartCopy's CopySourceIfMatch)
        copier_s3.meta.events.register("before-call.s3.UploadPartCopy", source_changed)
        # WHEN the other part batches are taken
        fates = [worker.handle(messages[f"{PARENT}.p000{i}"]).fate for i in (2, 3)]
    # THEN the object is counted failed once, with its reason, and the upload aborted
    assert fates == [Fate.DELETE, Fate.DELETE]
    assert counts(store) == (0, 1, 1)
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code, failure.http_status) == (
        "huge.bin",
        "PreconditionFailed",
        412,
    )
    record = store.uploads.get("job-1", PARENT)
    assert record is not None and record.state is UploadState.ABORTED
    assert open_uploads(s3) == []
    assert calls["CompleteMultipartUpload"] == 0
    (status,) = refresh(store, sqs, resources)
    assert status.state is JobState.COMPLETED_WITH_FAILURES


def test_a_job_that_ends_while_parts_are_copied_has_its_upload_aborted(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches in the queue, one of them done
    listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    with copier(aws, resources, store, copier_s3) as worker:
        assert worker.handle(messages[f"{PARENT}.p0001"]).fate is Fate.DELETE
        # AND the job failed (as a cancel or the watchdog ends it)
        job = store.get_job("job-1")
        assert job is not None
        assert store.finish("job-1", JobState.FAILED, job.percent, "cancelled", epoch=job.epoch)
        # WHEN the next part batch is taken
        assert worker.handle(messages[f"{PARENT}.p0002"]).fate is Fate.DELETE
        # THEN the upload is aborted and the object counted failed once, for that reason
        assert open_uploads(s3) == []
        assert counts(store) == (0, 1, 1)
        # AND the last part batch, taken after, copies nothing and counts nothing
        assert worker.handle(messages[f"{PARENT}.p0003"]).fate is Fate.DELETE
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code) == ("huge.bin", JOB_ENDED)
    assert counts(store) == (0, 1, 1)
    assert calls["UploadPartCopy"] == 2
    assert calls["CompleteMultipartUpload"] == 0


def test_part_batch_messages_carry_no_upload_and_only_their_index(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object dispatched
    listed_huge(s3, make_runner)
    dispatched(aws, sqs, store, resources)
    # THEN each part batch names its parent and index, and the job's spec
    bodies = sorted((m["Body"] for m in take(sqs, resources)), key=len)
    works = sorted((WORK.validate_json(b) for b in bodies), key=lambda w: w.batch_id)
    assert [(w.parent, w.index) for w in works if isinstance(w, PartBatch)] == [
        (PARENT, 1),
        (PARENT, 2),
        (PARENT, 3),
    ]
    assert all("UploadId" not in body and "upload" not in body for body in bodies)
    assert not any(isinstance(w, WorkBatch) for w in works)


def test_a_dead_lettered_part_batch_fails_the_object_once_and_its_upload_is_aborted(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches, the second of which SQS moved to the dead-letter queue
    listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    dead = messages.pop(f"{PARENT}.p0002")
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=dead["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=dead["ReceiptHandle"])
    with copier(aws, resources, store, copier_s3) as worker:
        assert worker.handle(messages[f"{PARENT}.p0001"]).fate is Fate.DELETE
        # WHEN the progress run sweeps the dead letters, and a copier takes what is queued
        (status,) = refresh(store, sqs, resources)
        assert status.state is JobState.RUNNING
        drain(worker, sqs, resources)
        show(sqs, resources, list(messages.values()))
        drain(worker, sqs, resources)
    # THEN the object is counted failed once, as dead-lettered, and its upload aborted
    assert counts(store) == (0, 1, 1)
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code) == ("huge.bin", "DeadLettered")
    assert open_uploads(s3) == []
    assert calls["CompleteMultipartUpload"] == 0
    (status,) = refresh(store, sqs, resources)
    assert status.state is JobState.COMPLETED_WITH_FAILURES
    assert sqs.receive_message(QueueUrl=resources.work_dlq_url).get("Messages", []) == []
