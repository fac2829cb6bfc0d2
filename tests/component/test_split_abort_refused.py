"""A huge object whose upload cannot be aborted (the destination grants no
s3:AbortMultipartUpload: AccessDenied, for good) after a part failed for good, or after its
parent was dead-lettered: the object is still reported failed, once, its reason naming the
upload left open, and the job ends. Every message of the upload once raised, was dead-lettered
and sent back by the sweep, for ever: the object was never reported and the job never ended
(both tests failed)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from split_helpers import (
    PARENT,
    calls_of,
    copier,
    counts,
    listed_huge,
    show,
    source_changed,
    take,
)

from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources


def _denied(**_: Any) -> None:
    raise ClientError(
        {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "AbortMultipartUpload",
    )


def _deliver_all(worker: Any, sqs: Any, resources: Resources) -> None:
    """Deliver every message until none is left (a message that raises comes back, until the
    queue's redrive policy moves it away)."""
    while taken := take(sqs, resources):
        for message in taken:
            try:
                worker.handle(message)
            except Exception:
                continue
        show(sqs, resources, taken)


def assert_reported_once(store: JobStore, sqs: Any, resources: Resources) -> None:
    (status,) = refresh(store, sqs, resources)
    assert counts(store) == (0, 1, 1)
    (failure,) = store.batches.failures("job-1")
    record = store.uploads.get("job-1", PARENT)
    assert record is not None
    assert f"its upload {record.upload_id} could not be aborted" in failure.message
    assert status.state is JobState.COMPLETED_WITH_FAILURES


def test_an_upload_that_cannot_be_aborted_still_ends_its_object_and_job(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object whose parts fail for good (its source changed) and a destination
    # that refuses the abort
    listed_huge(s3, make_runner)
    copier_s3, _calls = calls_of(aws)
    copier_s3.meta.events.register("before-call.s3.UploadPartCopy", source_changed)
    copier_s3.meta.events.register("before-call.s3.AbortMultipartUpload", _denied)
    # WHEN a copier takes every message
    with copier(aws, resources, store, copier_s3) as worker:
        _deliver_all(worker, sqs, resources)
    # THEN the object is reported failed once, saying the upload is left open; the job ends
    assert_reported_once(store, sqs, resources)


def test_a_dead_lettered_parent_whose_upload_cannot_be_aborted_ends_its_object_and_job(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN the parent handled by a copier that died before deleting it, dead-lettered (as in
    # test_split_dead_parent), its part batches lost from view, and a destination refusing
    # AbortMultipartUpload
    listed_huge(s3, make_runner)
    copier_s3, _calls = calls_of(aws)
    copier_s3.meta.events.register("before-call.s3.AbortMultipartUpload", _denied)
    with copier(aws, resources, store, copier_s3) as dying:
        (parent,) = take(sqs, resources)
        dying._process(parent)
    for message in take(sqs, resources):
        sqs.delete_message(
            QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=parent["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=parent["ReceiptHandle"])
    # WHEN the sweep sends the parent back and a copier takes it
    refresh(store, sqs, resources)
    with copier(aws, resources, store, copier_s3) as worker:
        _deliver_all(worker, sqs, resources)
    # THEN the object is reported failed once, saying the upload is left open; the job ends
    assert_reported_once(store, sqs, resources)
