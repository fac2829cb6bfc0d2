"""Malformed job messages never stop the coordinator; each one's reason is visible."""

from __future__ import annotations

import json
import time

import pytest

from s3migrator.models import JobState
from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, send_with_aws_cli, small_objects

pytestmark = pytest.mark.e2e

# Bad messages that name a usable job id: each becomes a failed job with its reason.
WITH_ID = {
    "bad-mode": (
        {
            "job_id": "bad-mode",
            "mode": "teleport",
            "source": {"bucket": "good-source"},
            "destination": {"bucket": "somewhere"},
        },
        "mode",
    ),
    "bad-missing-dest": (
        {"job_id": "bad-missing-dest", "mode": "copy", "source": {"bucket": "good-source"}},
        "destination",
    ),
    "bad-bucket-name": (
        {
            "job_id": "bad-bucket-name",
            "mode": "copy",
            "source": {"bucket": "Bad_Bucket!"},
            "destination": {"bucket": "somewhere"},
        },
        "invalid bucket name",
    ),
    "bad-same": (
        {
            "job_id": "bad-same",
            "mode": "copy",
            "source": {"bucket": "good-source"},
            "destination": {"bucket": "good-source"},
        },
        "overlap",
    ),
    "bad-overlap": (
        {
            "job_id": "bad-overlap",
            "mode": "copy",
            "source": {"bucket": "good-source", "prefix": "a/"},
            "destination": {"bucket": "good-source", "prefix": "a/b/"},
        },
        "overlap",
    ),
    "bad-no-source": (
        {
            "job_id": "bad-no-source",
            "mode": "copy",
            "source": {"bucket": "no-such-source"},
            "destination": {"bucket": "somewhere"},
        },
        "does not exist",
    ),
}
# Bad messages with no usable id: each lands in the jobs dead-letter queue with its reason.
WITHOUT_ID = {
    "hello there": "not JSON",
    "[1, 2, 3]": "invalid job message",
    "{}": "mode: Field required",
    json.dumps({"job_id": "has spaces and !", "mode": "copy"}): "job_id",
}


def test_ten_malformed_job_messages_leave_the_system_serving(stack: Stack) -> None:
    # GIVEN a deployed stack with its coordinator and a copier running
    assert stack.cli("deploy").returncode == 0
    objects = small_objects(40)
    fill(stack, "good-source", objects)
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")

    # WHEN ten malformed job messages are sent with the AWS CLI, then a valid job
    for body, _ in WITH_ID.values():
        send_with_aws_cli(stack, body)
    for text in WITHOUT_ID:
        send_with_aws_cli(stack, text)
    assert len(WITH_ID) + len(WITHOUT_ID) == 10
    send_with_aws_cli(
        stack,
        {
            "job_id": "good",
            "mode": "copy",
            "source": {"bucket": "good-source"},
            "destination": {"bucket": "good-destination"},
        },
    )
    status = stack.wait_for_state("good")

    # THEN the valid job succeeded
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_copied"] == len(objects)
    # AND each bad message with an id is a failed job with its reason
    for job_id, (_, reason) in WITH_ID.items():
        failed = stack.wait_for_state(job_id, timeout_s=30)
        assert failed["state"] == JobState.FAILED.value, failed
        assert reason in (failed["error"] or ""), failed
    # AND each one without lands in the jobs dead-letter queue with its reason attached
    sqs = stack.client("sqs")
    dlq = stack.resources().jobs_dlq_url
    reasons: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while len(reasons) < len(WITHOUT_ID) and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", []):
            reasons[message["Body"]] = message["MessageAttributes"]["reason"]["StringValue"]
    assert set(reasons) == set(WITHOUT_ID)
    for body, expected in WITHOUT_ID.items():
        assert expected in reasons[body], (body, reasons[body])
    # AND nothing is left in the jobs queue
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.resources().jobs_queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
