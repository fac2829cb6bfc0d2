"""A huge object split into part batches that fails, or whose job ends: the upload is aborted
and the object counted failed once (``copier.split``), driven message by message.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from split_helpers import (
    PARENT,
    calls_of,
    copier,
    counts,
    dispatched,
    drain,
    kind,
    listed_huge,
    open_uploads,
    show,
    source_changed,
    take,
)

from copier.fates import Fate
from copier.split import JOB_ENDED
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.part_work import WORK, PartBatch, UploadState
from s3migrator.resources import Resources


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


def test_a_part_failing_transiently_goes_on_in_a_later_delivery_of_its_part_batch(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches, and S3 answering the first part copy SlowDown
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    refused = []

    def slow_down_once(**_: Any) -> None:
        if not refused:
            refused.append(1)
            raise ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "UploadPartCopy",
            )

    copier_s3.meta.events.register("before-call.s3.UploadPartCopy", slow_down_once)
    with copier(aws, resources, store, copier_s3) as worker:
        # WHEN a copier takes the first part batch
        assert worker.handle(messages[f"{PARENT}.p0001"]).fate is Fate.DELETE
        # THEN it is not done; it goes on as its second attempt, under the same id
        (again,) = take(sqs, resources)
        retried = WORK.validate_json(again["Body"])
        assert isinstance(retried, PartBatch)
        assert (retried.batch_id, retried.attempt) == (f"{PARENT}.p0001", 2)
        assert counts(store) == (0, 0, 0)
        # WHEN it and the other part batches are copied
        for message in (again, messages[f"{PARENT}.p0002"], messages[f"{PARENT}.p0003"]):
            assert worker.handle(message).fate is Fate.DELETE
    # THEN the object is whole and counted once
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)
    assert calls["CompleteMultipartUpload"] == 1
    assert open_uploads(s3) == []
