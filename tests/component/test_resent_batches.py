"""A batch the coordinator sends again is a delivery again, whatever SQS's receive count says.

A run that dies between sending its last group and checkpointing it leaves that group to the
next run, which sends each batch not counted yet as a new SQS message (receive count 1, attempt
1, epoch 0). A copier may have copied such a batch's objects from the first message and died
before counting it: the job's own copy is then at the destination, and when ETags cannot tell
(a source uploaded in parts) it must be recognised by its bytes, not reported as a conflict.
"""

from __future__ import annotations

import json
from typing import Any

from moto_helpers import job_message, receive_all, resume_falls_due, run_killed_before_checkpoint

from progress.refresh import refresh
from s3migrator.models import JobState
from s3migrator.settings import MiB, Settings

PART = 5 * MiB


def uploaded_in_parts(s3: Any, bucket: str, key: str, body: bytes) -> str:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body), PART), start=1):
        etag = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=body[start : start + PART],
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return str(s3.head_object(Bucket=bucket, Key=key)["ETag"])


def test_a_batch_sent_again_recognises_the_jobs_own_earlier_copy(
    s3: Any, sqs: Any, store: Any, resources: Any, clock: Any, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a source uploaded in parts, and a first run killed after sending its only batch
    # but before checkpointing it
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    body = b"x" * (PART + 1000)
    source_etag = uploaded_in_parts(s3, "src-bucket", "big", body)
    runner = make_runner()
    run_killed_before_checkpoint(runner, job_message("job-1"))
    # AND a copier that took the first message, copied the object, and died before counting:
    # the copy holds the same bytes under another ETag (as S3's CopyObject of a source
    # uploaded in parts writes it)
    (first,) = receive_all(sqs, resources.work_queue_url)
    assert json.loads(first["Body"]).get("resent") is None
    s3.put_object(Bucket="dst-bucket", Key="big", Body=body)
    assert s3.head_object(Bucket="dst-bucket", Key="big")["ETag"] != source_etag

    # WHEN the resume runs and sends the batch again, and a copier takes it
    resume_falls_due(store, clock)
    run = runner.take("job-1", None)
    assert run is not None
    runner.work(run)
    run_copier()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))

    # THEN the job's own copy counts as copied: nothing is reported as a conflict
    record = store.get_job("job-1")
    assert store.batches.failures("job-1") == []
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 0)
    assert record.state is JobState.SUCCEEDED
