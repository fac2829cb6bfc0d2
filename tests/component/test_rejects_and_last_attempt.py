"""Rejected job messages and the copier's last attempt, against moto."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from copier_drain import drain
from moto_helpers import depth, fill, job_message, receive_all

from coordinator.service import Coordinator
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.errors import S3MigratorError
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.settings import Settings


def etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


# --- rejected job messages ----------------------------------------------------------------


def handle_one(coordinator: Coordinator, sqs: Any, resources: Resources, body: str) -> Any:
    """Send ``body`` to the jobs queue, receive it as the coordinator does, and handle it."""
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body)
    (message,) = sqs.receive_message(
        QueueUrl=resources.jobs_queue_url,
        MaxNumberOfMessages=1,
        MessageSystemAttributeNames=["SenderId"],
    )["Messages"]
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
    # GIVEN a listed batch of 2 objects, and a copier allowed 2 attempts per object whose S3
    # endpoint refuses connections
    objects = {"a": b"aaa", "b": b"bb"}
    fill(s3, "src-bucket", objects)
    make_runner().run(job_message("job-1"))
    unreachable = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    # WHEN the copier tries the batch, then its remainder (the second attempt, a second later)
    worker = drain(aws, resources, store, unreachable, max_item_attempts=2, idle_exit_s=3)
    # THEN each object is a failure with the attempts it had, and both batches are counted
    failures = sorted(store.batches.failures("job-1"), key=lambda f: f.key)
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
        "objects_deleted": 0,
        "objects_verified": 0,
        "bytes_copied": 0,
        "batches_done": 2,
        "batches_spawned": 1,
        "batches_extra": 0,
    }
    # AND both messages were settled, none left for redelivery or the DLQ
    assert worker.batches_settled == 2
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.work_dlq_url) == 0
    # AND the job completes with failures instead of waiting
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
