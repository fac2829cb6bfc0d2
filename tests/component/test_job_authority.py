"""Who may start a job and which accounts it may touch: the coordinator's own checks.

Moto gives every SQS message one SenderId whoever sends it, so a message's sender is set in
moto's queue after sending (``send_as``), as SQS would set it for that principal.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.sqs.models import DEFAULT_SENDER_ID, sqs_backends
from moto_helpers import depth, fill, job_message, receive_all

from coordinator.service import Coordinator
from progress.status import statuses
from s3migrator.aws import Aws
from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobState, Location
from s3migrator.resources import Resources
from s3migrator.sessions import RoleSessions

ACCOUNT = "123456789012"
ALLOWED_ROLE_ID = "AROAALLOWEDSUBMITTER1"


def send_as(sqs: Any, queue_url: str, body: str, sender_id: str) -> str:
    """Send ``body`` and give it ``sender_id`` as its SenderId; returns its MessageId."""
    message_id: str = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
    queue = sqs_backends[ACCOUNT]["us-east-1"].get_queue(queue_url.rsplit("/", 1)[1])
    (message,) = [m for m in queue._messages if m.id == message_id]
    message.sender_id = sender_id
    return message_id


def serve(coordinator: Coordinator) -> None:
    coordinator.serve(once=True)


def test_the_embedded_stacks_submitter_is_the_sender_moto_gives_every_message() -> None:
    assert LOCAL_SUBMITTER == DEFAULT_SENDER_ID


def test_a_job_from_an_unlisted_sender_is_refused_and_nothing_is_created(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a stack whose only submitter is one role, and a job sent by another principal
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, "AROASOMEONEELSE00001:mallory")
    # WHEN the coordinator serves the jobs queue
    serve(make_coordinator(job_submitters=ALLOWED_ROLE_ID))
    # THEN the message is dead-lettered with the reason, body intact
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == body
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == (
        "sender AROASOMEONEELSE00001:mallory is not one of the stack's job submitters"
        " (JobSubmitters, S3MIGRATOR_JOB_SUBMITTERS); nothing was done"
    )
    # AND no job was recorded (not even under its id), no bucket created, nothing queued
    assert store.list_jobs() == []
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert depth(sqs, resources.work_queue_url) == 0
    assert depth(sqs, resources.jobs_queue_url) == 0


def test_a_stack_with_no_submitters_refuses_every_job(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a coordinator configured with no job submitters at all
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, LOCAL_SUBMITTER)
    # WHEN it serves the queue
    serve(make_coordinator(job_submitters=""))
    # THEN the job is refused, saying why, and nothing is recorded
    (dead,) = receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    assert dead["MessageAttributes"]["reason"]["StringValue"].startswith(
        "no job submitters are configured"
    )
    assert store.list_jobs() == []


def test_a_submitter_named_by_its_role_arn_starts_jobs_and_is_recorded_as_their_sender(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a submitter role, named in the stack's list by its ARN
    iam = aws.session.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="submitter", AssumeRolePolicyDocument=json.dumps(trust))
    role_id, arn = role["Role"]["RoleId"], role["Role"]["Arn"]
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, f"{role_id}:alice")
    # WHEN the coordinator serves the queue
    serve(make_coordinator(job_submitters=arn))
    # THEN the job ran: recorded with its sender, listed, nothing dead-lettered
    record = store.get_job("job-1")
    assert record is not None and record.listing.complete
    assert record.sender == f"{role_id}:alice"
    assert depth(sqs, resources.jobs_dlq_url) == 0
    # AND its status names the sender
    (status,) = statuses(store, sqs, resources, "job-1")
    assert status.sender == f"{role_id}:alice"


@pytest.mark.parametrize(
    ("side", "reason"),
    [
        (
            "destination",
            "destination bucket 'dst-bucket' would be in account 999999999999, which is not"
            f" one of the accounts this stack may touch ({ACCOUNT}; the stack's AllowedAccounts)",
        ),
        (
            "source",
            "source bucket 'src-bucket' would be in account 999999999999, which is not"
            f" one of the accounts this stack may touch ({ACCOUNT}; the stack's AllowedAccounts)",
        ),
    ],
)
def test_a_job_naming_an_account_outside_the_allowed_ones_fails_and_touches_nothing(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    side: str,
    reason: str,
) -> None:
    # GIVEN a job from a listed sender whose one side is in an account the stack may not touch
    fill(s3, "src-bucket", {"a": b"1"})
    job = json.loads(job_message("job-1").model_dump_json(exclude_defaults=True))
    job[side]["account_id"] = "999999999999"
    send_as(sqs, resources.jobs_queue_url, json.dumps(job), LOCAL_SUBMITTER)
    # WHEN the coordinator serves the queue
    serve(make_coordinator())
    # THEN the job is a failed job with that reason, and nothing was created or queued
    record = store.get_job("job-1")
    assert record is not None
    assert (record.state, record.error) == (JobState.FAILED, reason)
    assert "dst-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert depth(sqs, resources.work_queue_url) == 0


def test_each_side_is_bound_to_its_owning_account_when_the_job_is_taken(
    sqs: Any, s3: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job that names no account on either side
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("job-1").model_dump_json(exclude_defaults=True)
    send_as(sqs, resources.jobs_queue_url, body, LOCAL_SUBMITTER)
    # WHEN it is taken
    serve(make_coordinator())
    # THEN both sides are recorded as the stack's own account's buckets
    record = store.get_job("job-1")
    assert record is not None and record.spec is not None
    assert (record.spec.source.account_id, record.spec.destination.account_id) == (
        ACCOUNT,
        ACCOUNT,
    )


def test_a_jobs_role_session_is_named_by_the_tool_with_the_stacks_external_id_and_sender(
    aws: Aws,
) -> None:
    # GIVEN role sessions with the stack's external id for one role, every AssumeRole recorded
    role = "arn:aws:iam::222222222222:role/migrator"
    assumed: list[dict[str, Any]] = []
    aws.session.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(params)
    )
    sessions = RoleSessions(base=aws.session, external_ids={role: "stack-external-id"})
    copy = CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket"),
        destination=Location(bucket="dst-bucket", role_arn=role),
        sender="AROAALLOWEDSUBMITTER1:alice",
    )
    # WHEN the job's destination session is used
    sessions.for_location(copy.destination, copy).client("sts").get_caller_identity()
    # THEN the role was assumed under the tool's name for the job, with the stack's external id
    # and the sender as source identity
    assert [
        (p["RoleArn"], p["RoleSessionName"], p.get("ExternalId"), p.get("SourceIdentity"))
        for p in assumed
    ] == [(role, "s3migrator-job-1", "stack-external-id", "AROAALLOWEDSUBMITTER1@alice")]
