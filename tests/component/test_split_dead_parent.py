"""The parent dead-lettered after its upload was recorded and its part batches sent (its copier
died before deleting it, delivery after delivery): the sweep fails the object on its upload and
sends the parent back, so a copier aborts the upload and counts the object once. The sweep once
counted it failed at once, ending the job at 100% with the upload open (this test failed)."""

from __future__ import annotations

from typing import Any

from split_helpers import (
    calls_of,
    copier,
    counts,
    drain,
    listed_huge,
    open_uploads,
    take,
)

from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources


def test_a_dead_lettered_parent_with_an_open_upload_is_not_finished_before_its_upload(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object whose parent a copier handled (upload recorded, part batches sent)
    # and died before deleting, the parent then moved to the dead-letter queue
    body = listed_huge(s3, make_runner)
    copier_s3, _calls = calls_of(aws)
    with copier(aws, resources, store, copier_s3) as dying:
        (parent,) = take(sqs, resources)
        dying._process(parent)  # handled, never settled
    record = store.uploads.get("job-1", "job-1:000000000")
    assert record is not None and record.sent
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=parent["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=parent["ReceiptHandle"])
    # WHEN the progress run sweeps the dead letters
    (status,) = refresh(store, sqs, resources)
    # THEN the job is not reported finished while its object's upload is open and its part
    # batches queued
    assert open_uploads(s3) == [record.upload_id]
    assert (status.state, counts(store)) == (JobState.RUNNING, (0, 0, 0))
    # WHEN the copiers take what is queued
    with copier(aws, resources, store, copier_s3) as worker:
        drain(worker, sqs, resources)
    # THEN the object is counted once, as what became of it, and no upload is left
    (status,) = refresh(store, sqs, resources)
    assert open_uploads(s3) == []
    copied = s3.list_objects_v2(Bucket="dst-bucket").get("KeyCount", 0) == 1
    assert counts(store) == ((1, 0, 1) if copied else (0, 1, 1))
    if copied:
        assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
