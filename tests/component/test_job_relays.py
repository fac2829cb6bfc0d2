"""A job relayed by the stack's own progress function (the dashboard behind its URL) is the
caller's: the caller must be a job submitter and is recorded as the job's sender; the relay
alone starts nothing. Moto gives every message one SenderId, so the relay's is set in moto's
queue after sending, as SQS would set it."""

from __future__ import annotations

from typing import Any

from moto.sqs.models import sqs_backends
from moto_helpers import fill, job_message, receive_all
from test_job_authority import ACCOUNT, ALLOWED_ROLE_ID

from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources
from s3migrator.sqs.queues import ORIGINAL_SENDER

RELAY = "AROAPROGRESSFUNCTION1"


def relay(sqs: Any, resources: Resources, job_id: str, caller: str | None) -> None:
    """Send a job as the relay does, naming ``caller`` (or no one) as its original sender."""
    body = job_message(job_id).model_dump_json(exclude_defaults=True)
    named = {ORIGINAL_SENDER: {"DataType": "String", "StringValue": caller}} if caller else {}
    url = resources.jobs_queue_url
    message_id = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=named)[
        "MessageId"
    ]
    queue = sqs_backends[ACCOUNT]["us-east-1"].get_queue(url.rsplit("/", 1)[1])
    (message,) = [m for m in queue._messages if m.id == message_id]
    message.sender_id = f"{RELAY}:s3migrator-progress"


def test_a_job_relayed_for_a_submitter_is_started_and_recorded_as_the_callers(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a job the relay sends for a job submitter
    fill(s3, "src-bucket", {"a": b"1"})
    relay(sqs, resources, "relayed", f"{ALLOWED_ROLE_ID}:alice")
    # WHEN the coordinator serves the jobs queue
    make_coordinator(job_submitters=ALLOWED_ROLE_ID, job_relays=RELAY).serve(once=True)
    # THEN the job is recorded, its sender the caller
    record = store.get_job("relayed")
    assert record is not None and record.sender == f"{ALLOWED_ROLE_ID}:alice"


def test_a_relayed_job_naming_no_caller_or_one_who_is_no_submitter_is_refused(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN two jobs from the relay: one naming no caller, one naming a stranger
    fill(s3, "src-bucket", {"a": b"1"})
    relay(sqs, resources, "anonymous", None)
    relay(sqs, resources, "strangers", "AIDASTRANGER00000001")
    # WHEN the coordinator serves the jobs queue
    make_coordinator(job_submitters=ALLOWED_ROLE_ID, job_relays=RELAY).serve(once=True)
    # THEN neither is recorded, and each is dead-lettered with its reason
    assert store.list_jobs() == []
    reasons = sorted(
        dead["MessageAttributes"]["reason"]["StringValue"]
        for dead in receive_all(sqs, resources.jobs_dlq_url, MessageAttributeNames=["All"])
    )
    assert reasons == [
        f"relay {RELAY}:s3migrator-progress names no original sender; nothing was done",
        "sender AIDASTRANGER00000001 is not one of the stack's job submitters (JobSubmitters,"
        " S3MIGRATOR_JOB_SUBMITTERS); nothing was done",
    ]


def test_a_job_naming_another_submitter_as_its_sender_is_recorded_as_its_real_senders(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN two submitters, one of whom sends a job naming the other as its original sender
    fill(s3, "src-bucket", {"a": b"1"})
    body = job_message("framed").model_dump_json(exclude_defaults=True)
    named = {ORIGINAL_SENDER: {"DataType": "String", "StringValue": f"{ALLOWED_ROLE_ID}:bob"}}
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody=body, MessageAttributes=named)
    # WHEN the coordinator serves the jobs queue
    submitters = f"{ALLOWED_ROLE_ID},{LOCAL_SUBMITTER}"
    make_coordinator(job_submitters=submitters, job_relays=RELAY).serve(once=True)
    # THEN the job is recorded as started by its real sender, not by the one it names
    record = store.get_job("framed")
    assert record is not None and record.sender == LOCAL_SUBMITTER
