"""Completion reports, rejected job messages and the copier's last attempt, against moto."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from copier_drain import drain
from moto_helpers import depth, fill, job_message, job_record, receive_all

from coordinator.batching import batch_id
from coordinator.service import Coordinator
from progress.failures_csv import write_csv
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.errors import S3MigratorError
from s3migrator.jobstore import JobStore
from s3migrator.models import FailureRecord, JobState, ReportLocation, WorkBatch
from s3migrator.resources import Resources
from s3migrator.settings import Settings

HEADER = [
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
]
REPORTS = ReportLocation(bucket="reports-bucket", prefix="r/")


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def read_report(s3: Any, key: str = "r/job-1/failures.csv") -> list[list[str]]:
    report = s3.get_object(Bucket="reports-bucket", Key=key)
    assert report["ContentType"] == "text/csv"
    return parse_csv(report["Body"].read().decode())


def dead_letter_only_batch(sqs: Any, resources: Resources) -> None:
    """Move the job's one queued batch to the work DLQ, as SQS's redrive policy would."""
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"])


# --- the CSV ---------------------------------------------------------------------------------


def test_csv_has_the_batch_operations_header_and_one_failed_row_per_failure() -> None:
    # GIVEN failures whose keys hold commas, quotes, newlines and non-ASCII characters
    failures = [
        FailureRecord(
            key='dir/a,b "quoted".txt',
            code="NoSuchKey",
            message="The specified key does not exist.",
            http_status=404,
            attempts=1,
        ),
        FailureRecord(
            key="line\nbreak\r\nand ünïcode",
            code="AccessDenied",
            message='denied, "really"',
            http_status=403,
            attempts=3,
            version_id="v1",
        ),
        FailureRecord(key="plain", code="DeadLettered", message="gone", attempts=10),
    ]
    out = io.StringIO(newline="")
    # WHEN written as the job's CSV
    rows = write_csv(out, job_record("job-1"), failures)
    # THEN a CSV reader gets the header and exactly the failures back, field for field
    assert rows == 3
    assert parse_csv(out.getvalue()) == [
        HEADER,
        [
            "src-bucket",
            'dir/a,b "quoted".txt',
            "",
            "failed",
            "NoSuchKey",
            "404",
            "The specified key does not exist. (attempts: 1)",
        ],
        [
            "src-bucket",
            "line\nbreak\r\nand ünïcode",
            "v1",
            "failed",
            "AccessDenied",
            "403",
            'denied, "really" (attempts: 3)',
        ],
        ["src-bucket", "plain", "", "failed", "DeadLettered", "", "gone (attempts: 10)"],
    ]


def test_csv_without_failures_is_only_the_header() -> None:
    out = io.StringIO(newline="")
    assert write_csv(out, job_record("job-1"), []) == 0
    assert parse_csv(out.getvalue()) == [HEADER]


# --- the report written to S3 ------------------------------------------------------------------


def test_finished_job_writes_its_failures_csv_to_its_report_location(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job naming a report location, one of whose 3 objects is deleted after listing
    objects = {"a.txt": b"a", "b, c.txt": b"bb", "d.txt": b"ddd"}
    fill(s3, "src-bucket", objects)
    s3.create_bucket(Bucket="reports-bucket")
    make_runner().run(job_message("job-1", report=REPORTS))
    s3.delete_object(Bucket="src-bucket", Key="b, c.txt")
    drain(aws, resources, store)
    # WHEN progress refreshes it with an S3 client
    (status,) = refresh(store, sqs, resources, s3=s3)
    # THEN the job completed with failures, and its CSV lists the failed object
    assert (status.state, status.percent, status.error) == (
        JobState.COMPLETED_WITH_FAILURES,
        100,
        None,
    )
    assert read_report(s3) == [
        HEADER,
        [
            "src-bucket",
            "b, c.txt",
            "",
            "failed",
            "NoSuchKey",
            "404",
            "The specified key does not exist. (attempts: 1)",
        ],
    ]


def test_report_that_cannot_be_written_is_named_in_the_jobs_error(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job naming a report bucket that does not exist, whose batch was dead-lettered
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    # WHEN progress finishes it
    (status,) = refresh(store, sqs, resources, s3=s3)
    # THEN it still finishes, and its error says the report was not written and why
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert status.error is not None
    assert status.error.startswith("report not written: ")
    assert "NoSuchBucket" in status.error


def test_redriven_job_that_succeeds_keeps_no_error_from_its_first_finish(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job that finished with failures and without its report (no such bucket)
    fill(s3, "src-bucket", {"a": b"1", "b": b"22"})
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    (first,) = refresh(store, sqs, resources, s3=s3)
    assert first.error is not None
    # WHEN the report bucket is created, the job redriven, copied and refreshed
    s3.create_bucket(Bucket="reports-bucket")
    redrive(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    drain(aws, resources, store)
    (done,) = refresh(store, sqs, resources, s3=s3)
    # THEN it succeeded, its report (now empty) was written, and no stale error remains
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 2, 0)
    assert read_report(s3) == [HEADER]
    assert done.error is None


# --- rejected job messages ----------------------------------------------------------------


def handle_one(coordinator: Coordinator, sqs: Any, resources: Resources, body: str) -> Any:
    """Send ``body`` to the jobs queue, receive it as the coordinator does, and handle it."""
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    (message,) = sqs.receive_message(QueueUrl=resources.jobs_queue_url, MaxNumberOfMessages=1)[
        "Messages"
    ]
    coordinator.handle(message)
    return message


def test_invalid_job_with_a_usable_id_becomes_a_failed_job_with_its_reason(
    sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job message with a valid id but an unknown mode
    body = json.dumps(
        {
            "job_id": "bad-1",
            "mode": "teleport",
            "source": {"bucket": "a-bucket"},
            "destination": {"bucket": "b-bucket"},
        }
    )
    # WHEN the coordinator handles it
    handle_one(make_coordinator(), sqs, resources, body)
    # THEN job bad-1 is recorded as failed, with the reason naming the mode
    job = store.get_job("bad-1")
    assert job is not None
    assert (job.state, job.mode, job.spec) == (JobState.FAILED, None, None)
    assert job.error is not None
    assert job.error.startswith("invalid job message")
    assert "mode" in job.error
    assert job.finished_at is not None
    # AND the message is gone from the jobs queue and not dead-lettered, nothing was listed
    assert depth(sqs, resources.jobs_queue_url) == 0
    assert depth(sqs, resources.jobs_dlq_url) == 0
    assert depth(sqs, resources.work_queue_url) == 0
    # AND status reports it failed, and it cannot be redriven
    (status,) = refresh(store, sqs, resources, job_id="bad-1")
    assert (status.state, status.error) == (JobState.FAILED, job.error)
    with pytest.raises(S3MigratorError, match="rejected"):
        redrive(store, sqs, resources, "bad-1", Settings(stack_name="s3migrator"))


VALID_REST = {"mode": "copy", "source": {"bucket": "a-bucket"}, "destination": {"bucket": "b-b"}}


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        pytest.param(json.dumps({"job_id": "bad id!", **VALID_REST}), "job_id", id="invalid-id"),
        pytest.param(json.dumps({"job_id": "-x", **VALID_REST}), "job_id", id="leading-dash"),
        pytest.param(json.dumps({"job_id": "x" * 129, **VALID_REST}), "job_id", id="too-long"),
        pytest.param(json.dumps({"job_id": 42, **VALID_REST}), "job_id", id="numeric-id"),
        pytest.param(json.dumps({"job_id": "ok\n", **VALID_REST}), "job_id", id="newline-id"),
        pytest.param(
            json.dumps({**VALID_REST, "mode": "teleport"}), "mode", id="no-id-invalid-job"
        ),
        pytest.param("{not json", "not JSON", id="not-json"),
        pytest.param('["job_id", "bad-1"]', "invalid job message", id="json-array"),
    ],
)
def test_invalid_job_without_a_usable_id_goes_to_the_jobs_dlq_with_its_reason(
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    body: str,
    reason_part: str,
) -> None:
    # GIVEN a job message that is no valid job and names no usable job id
    coordinator = make_coordinator()
    # WHEN the coordinator handles it
    message = handle_one(coordinator, sqs, resources, body)
    # THEN it is in the jobs DLQ, body intact, with the reason attached
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == body
    assert reason_part in dead["MessageAttributes"]["reason"]["StringValue"]
    assert dead["MessageAttributes"]["original_message_id"]["StringValue"] == message["MessageId"]
    # AND it left the jobs queue, and no job was recorded
    assert depth(sqs, resources.jobs_queue_url) == 0
    assert store.list_jobs() == []


def test_invalid_message_naming_an_existing_job_leaves_that_job_untouched(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a valid job-1 that the coordinator listed
    fill(s3, "src-bucket", {"a": b"1", "b": b"2"})
    coordinator = make_coordinator()
    handle_one(
        coordinator, sqs, resources, job_message("job-1").model_dump_json(exclude_defaults=True)
    )
    before = store.get_job("job-1")
    assert before is not None
    assert before.state is JobState.RUNNING
    # WHEN an invalid message naming job-1 arrives
    body = json.dumps({"job_id": "job-1", **VALID_REST, "mode": "teleport"})
    handle_one(coordinator, sqs, resources, body)
    # THEN job-1 is exactly as it was, and the bad message is in the jobs DLQ with its reason
    assert store.get_job("job-1") == before
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == body
    assert "mode" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert depth(sqs, resources.jobs_queue_url) == 0
    assert depth(sqs, resources.work_queue_url) == 1


# --- the copier's last attempt ------------------------------------------------------------


def test_transient_error_on_the_last_attempt_is_recorded_and_the_batch_counted(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a listed batch of 2 objects, delivered once already (so the next delivery is the 2nd)
    objects = {"a": b"aaa", "b": b"bb"}
    fill(s3, "src-bucket", objects)
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    assert WorkBatch.model_validate_json(message["Body"]).batch_id == batch_id("job-1", 0)
    # AND a copier allowed 2 attempts per object, whose S3 endpoint refuses connections
    unreachable = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    # WHEN the copier tries the batch on that last attempt
    worker = drain(aws, resources, store, unreachable, max_item_attempts=2)
    # THEN each object is a failure record with the attempts it had, and the batch is counted
    failures = sorted(store.failures.of_job("job-1"), key=lambda f: f.key)
    assert [(f.key, f.code, f.http_status, f.attempts) for f in failures] == [
        ("a", "EndpointConnectionError", None, 2),
        ("b", "EndpointConnectionError", None, 2),
    ]
    assert [(f.size, f.etag) for f in failures] == [(3, etag(b"aaa")), (2, etag(b"bb"))]
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.model_dump() == {
        "objects_copied": 0,
        "objects_failed": 2,
        "bytes_copied": 0,
        "batches_done": 1,
        "batches_extra": 0,
    }
    # AND the message was settled, not left for redelivery or the DLQ
    assert worker.batches_settled == 1
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.work_dlq_url) == 0
    # AND the job completes with failures instead of waiting
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
