"""The copier against moto: server-side copies, exact counting, request economy, multipart."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from typing import Any

import boto3
from botocore.config import Config
from copier_drain import drain
from moto_helpers import depth, fill, job_message, receive_all

from s3migrator.aws import Aws
from s3migrator.failures import FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import JobOptions
from s3migrator.resources import Resources
from s3migrator.settings import GiB, MiB
from s3migrator.work import WorkBatch

LARGE = 11 * MiB + 512 * 1024  # three 5 MiB parts: 5 + 5 + 1.5


def recording_client(aws: Aws) -> tuple[Any, list[str]]:
    """A real S3 client whose operation names are recorded as botocore emits them."""
    s3 = aws.s3()
    calls: list[str] = []
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls.append(model.name)

    s3.meta.events.register("before-call.s3", record)
    return s3, calls


def dest_contents(s3: Any, bucket: str = "dst-bucket") -> dict[str, bytes]:
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def small_objects(count: int) -> dict[str, bytes]:
    return {f"files/{i:03d} copy+1.txt": f"content {i}".encode() * (i + 1) for i in range(count)}


def test_every_object_is_copied_and_counted_exactly(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN 30 objects listed into 5 batches
    objects = small_objects(30)
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=7).run(job_message("job-1"))
    # WHEN a copier drains the work queue
    worker = run_copier()
    # THEN the destination holds the same keys and bytes
    assert dest_contents(s3) == objects
    # AND the counters are exact, every batch settled, the queue empty
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.model_dump() == {
        "objects_copied": 30,
        "objects_failed": 0,
        "objects_deleted": 0,
        "objects_verified": 30,
        "bytes_copied": sum(len(v) for v in objects.values()),
        "batches_done": 5,
        "batches_spawned": 0,
        "batches_extra": 0,
    }
    assert worker.batches_settled == 5
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.work_dlq_url) == 0


def test_prefixes_are_mapped_from_source_to_destination(
    s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"in/a.txt": b"a", "in/sub/b.txt": b"b", "skip/c.txt": b"c"})
    make_runner().run(job_message("job-1", source_prefix="in/", destination_prefix="out/2024/"))
    run_copier()
    assert dest_contents(s3) == {"out/2024/a.txt": b"a", "out/2024/sub/b.txt": b"b"}


def test_redelivered_batch_is_counted_once(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN 12 objects in 3 batches, and the first batch's message delivered twice more
    objects = small_objects(12)
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=4).run(job_message("job-1"))
    messages = receive_all(sqs, resources.work_queue_url)
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=resources.work_queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    for _ in range(2):
        sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=messages[0]["Body"])
    # WHEN a copier processes all five messages
    worker = run_copier()
    # THEN each message was settled, but each batch counted once
    assert worker.batches_settled == 5
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.objects_copied == 12
    assert job.counters.batches_done == 3
    assert job.counters.bytes_copied == sum(len(v) for v in objects.values())
    assert dest_contents(s3) == objects
    assert depth(sqs, resources.work_queue_url) == 0


def test_small_objects_cost_exactly_one_copy_object_each(
    aws: Aws, s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN 9 small objects (one of them empty) listed into batches
    objects = {**small_objects(8), "empty": b""}
    fill(s3, "src-bucket", objects)
    make_runner(batch_max_keys=4).run(job_message("job-1"))
    copier_s3, calls = recording_client(aws)
    # WHEN the copier copies them with its own S3 client
    run_copier(copier_s3)
    # THEN its only S3 requests were one CopyObject per object, and one look per job at
    # whether the source has Object Lock
    assert Counter(calls) == {"CopyObject": 9, "GetObjectLockConfiguration": 1}
    assert dest_contents(s3) == objects


def test_large_object_is_copied_in_parts_with_identical_bytes_and_properties(
    aws: Aws, s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN an object above the 8 MiB threshold with a content type, metadata and caching
    body = os.urandom(LARGE)
    fill(
        s3,
        "src-bucket",
        {"video/big.mp4": body},
        ContentType="video/mp4",
        Metadata={"owner": "team-a", "take": "3"},
        CacheControl="max-age=60",
    )
    make_runner().run(job_message("job-1"))
    copier_s3, calls = recording_client(aws)
    # WHEN copied with 5 MiB parts
    run_copier(copier_s3, threshold=8 * MiB, part_size=5 * MiB)
    # THEN the copy is byte for byte the source, with its properties carried over
    copied = s3.get_object(Bucket="dst-bucket", Key="video/big.mp4")
    assert copied["Body"].read() == body
    assert copied["ContentType"] == "video/mp4"
    assert copied["Metadata"] == {"owner": "team-a", "take": "3"}
    assert copied["CacheControl"] == "max-age=60"
    # AND it took two heads (the source's properties, then whether the destination key is
    # free), one create, three part copies and one complete, in that order, then one head
    # for the copy's CRC32 (the SDK gave the source one; moto's completion does not answer it)
    assert calls[0:3] == ["HeadObject", "HeadObject", "CreateMultipartUpload"]
    assert calls[3:6] == ["UploadPartCopy"] * 3
    assert calls[6:] == ["CompleteMultipartUpload", "HeadObject"]
    # AND it was counted once with its full size, no upload left open
    job = store.get_job("job-1")
    assert job is not None
    assert (job.counters.objects_copied, job.counters.bytes_copied) == (1, LARGE)
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


def test_job_options_override_the_copier_threshold_and_part_size(
    aws: Aws, s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a copier whose own threshold is 5 GiB and a job asking for 8 MiB / 6 MiB
    body = os.urandom(LARGE)
    fill(s3, "src-bucket", {"big.bin": body, "small.bin": b"tiny"})
    options = JobOptions(multipart_threshold_bytes=8 * MiB, part_size_bytes=6 * MiB)
    make_runner().run(job_message("job-1", options=options))
    copier_s3, calls = recording_client(aws)
    # WHEN copied
    run_copier(copier_s3, threshold=5 * GiB, part_size=256 * MiB)
    # THEN the job's options applied: two 6 MiB parts for the large object, CopyObject for the
    # small one
    assert Counter(calls) == {
        "CopyObject": 1,
        "GetObjectLockConfiguration": 1,
        "HeadObject": 3,  # the source's, the destination's, the copy's CRC
        "CreateMultipartUpload": 1,
        "UploadPartCopy": 2,
        "CompleteMultipartUpload": 1,
    }
    assert dest_contents(s3) == {"big.bin": body, "small.bin": b"tiny"}


def test_object_deleted_after_listing_is_a_recorded_failure_and_the_batch_is_settled(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN 5 objects listed, then one deleted from the source
    objects = small_objects(5)
    fill(s3, "src-bucket", objects)
    make_runner().run(job_message("job-1"))
    gone = "files/002 copy+1.txt"
    s3.delete_object(Bucket="src-bucket", Key=gone)
    # WHEN the copier runs
    worker = run_copier()
    # THEN four objects are copied, one is counted failed with its reason
    job = store.get_job("job-1")
    assert job is not None
    assert (job.counters.objects_copied, job.counters.objects_failed) == (4, 1)
    assert job.counters.batches_done == 1
    assert list(store.batches.failures("job-1")) == [
        FailureRecord(
            key=gone,
            code="NoSuchKey",
            message="The specified key does not exist.",
            http_status=404,
            size=len(objects[gone]),
            etag=f'"{hashlib.md5(objects[gone]).hexdigest()}"',
        )
    ]
    assert set(dest_contents(s3)) == set(objects) - {gone}
    # AND the batch was still deleted (it will not be retried)
    assert worker.batches_settled == 1
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.work_dlq_url) == 0


def test_large_object_changed_after_listing_is_copied_whole_in_its_current_version(
    aws: Aws, s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a large object listed, then overwritten with other bytes of another size
    fill(s3, "src-bucket", {"big.bin": os.urandom(LARGE)})
    make_runner().run(job_message("job-1"))
    current = os.urandom(LARGE + 1234)
    fill(s3, "src-bucket", {"big.bin": current})
    copier_s3, calls = recording_client(aws)
    # WHEN the copier runs
    run_copier(copier_s3)
    # THEN the listed version's precondition stopped the first attempt before any upload,
    # and the current version was read again and copied whole under its own ETag
    assert calls[:2] == ["HeadObject", "HeadObject"]
    assert "CreateMultipartUpload" not in calls[:2]
    copied = s3.get_object(Bucket="dst-bucket", Key="big.bin")["Body"].read()
    assert copied == current
    job = store.get_job("job-1")
    assert job is not None
    assert (job.counters.objects_copied, job.counters.objects_failed) == (1, 0)
    assert job.counters.bytes_copied == len(current)
    assert list(store.batches.failures("job-1")) == []


def test_objects_that_fail_transiently_go_on_alone_in_a_remainder_batch(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a listed batch and a copier whose S3 endpoint refuses connections
    fill(s3, "src-bucket", small_objects(3))
    make_runner().run(job_message("job-1"))
    unreachable = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    # WHEN the copier tries the batch (its retries delayed a second or two, so it stops first)
    worker = drain(aws, resources, store, unreachable, retry_delay_base_s=2, idle_exit_s=0.25)
    # THEN the batch is counted with nothing decided, no failure is recorded, and its three
    # objects wait in a remainder batch (their second attempt) that the job now also expects
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.model_dump() == {
        "objects_copied": 0,
        "objects_failed": 0,
        "objects_deleted": 0,
        "objects_verified": 0,
        "bytes_copied": 0,
        "batches_done": 1,
        "batches_spawned": 1,
        "batches_extra": 0,
    }
    assert store.batches.failures("job-1") == []
    assert worker.batches_settled == 1
    (message,) = receive_all(sqs, resources.work_queue_url, WaitTimeSeconds=5)
    remainder = WorkBatch.model_validate_json(message["Body"])
    assert (remainder.batch_id, remainder.attempt) == ("job-1:000000000~2", 2)
    assert sorted(i.key for i in remainder.items) == sorted(small_objects(3))


def test_malformed_work_message_is_left_for_the_dead_letter_queue(
    sqs: Any, store: JobStore, resources: Resources, run_copier: Any
) -> None:
    # GIVEN a work message that is not a batch
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody='{"kind": "nonsense"}')
    # WHEN a copier receives it
    worker = run_copier()
    # THEN it is neither settled nor deleted (the redrive policy will move it)
    assert worker.batches_settled == 0
    assert depth(sqs, resources.work_queue_url) == 1
