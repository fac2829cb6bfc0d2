"""Sending message bodies and reading queue depths."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import failed_entry, translated
from s3migrator.errors import PermanentError, TransientError
from s3migrator.notes import CancelMessage, RedriveMessage, ReportMessage, ResumeMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.models import JobMessage

MAX_ENTRIES_PER_SEND = 10  # SendMessageBatch's limit
MAX_DELAY_S = 900  # SQS's longest message delay
# A message relayed by the stack (a dead letter moved back, a dashboard's request) carries who
# sent it first; a coordinator checks that sender as well as the relay.
ORIGINAL_SENDER = "original_sender"
# How long a message whose batch another copier claims is hidden: within SQS's 12-hour cap on a
# received message's visibility, counted from its receipt.
LATER_VISIBILITY_S = 11 * 3600


def send_bodies(sqs: SQSClient, queue_url: str, bodies: list[str], attempts: int = 5) -> None:
    """SendMessageBatch for up to ten bodies, re-sending entries SQS reports as failed.

    Raises PermanentError when SQS blames the sender for an entry (a body it refuses), and
    TransientError when entries still fail after ``attempts`` tries.
    """
    if len(bodies) > MAX_ENTRIES_PER_SEND:
        raise ValueError(f"at most {MAX_ENTRIES_PER_SEND} bodies per send")
    entries = {str(i): body for i, body in enumerate(bodies)}
    for attempt in range(attempts):
        with translated():
            result = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": i, "MessageBody": body} for i, body in entries.items()],
            )
        failed = result.get("Failed", [])
        if not failed:
            return
        errors = [failed_entry(f) for f in failed]
        refused = [error for error in errors if isinstance(error, PermanentError)]
        if refused:
            raise refused[0]
        entries = {f["Id"]: entries[f["Id"]] for f in failed}
        time.sleep(0.2 * 2**attempt)
    raise TransientError("SendFailed", f"{len(entries)} entries not sent after {attempts} tries")


def queue_depth(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS approximates them."""
    with translated():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def message_cap(sqs: SQSClient, queue_url: str) -> int:
    """The largest message body the queue takes (its ``MaximumMessageSize``)."""
    with translated():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"]
        )["Attributes"]
    return int(attributes["MaximumMessageSize"])


def send_resume(sqs: SQSClient, jobs_queue_url: str, job_id: str, *, delay_s: int) -> None:
    """Ask a coordinator to take the job up where its checkpoint stands, after ``delay_s``."""
    with translated():
        sqs.send_message(
            QueueUrl=jobs_queue_url,
            MessageBody=ResumeMessage(resume=job_id).model_dump_json(),
            DelaySeconds=max(0, min(MAX_DELAY_S, delay_s)),
        )


def send_report(sqs: SQSClient, jobs_queue_url: str, job_id: str) -> None:
    """Ask a coordinator to write a finished job's completion report."""
    with translated():
        sqs.send_message(
            QueueUrl=jobs_queue_url, MessageBody=ReportMessage(report=job_id).model_dump_json()
        )


def send_job(
    sqs: SQSClient, jobs_queue_url: str, message: JobMessage, on_behalf_of: str | None = None
) -> JobMessage:
    """Send a job message exactly as any SQS client would; returns it with its job id.
    ``on_behalf_of``: the principal (its unique id) a relay sends it for."""
    job = message.with_id()
    with translated():
        sqs.send_message(
            QueueUrl=jobs_queue_url,
            MessageBody=job.model_dump_json(exclude_defaults=True),
            **_original(on_behalf_of),
        )
    return job


def send_request(
    sqs: SQSClient,
    jobs_queue_url: str,
    request: RedriveMessage | CancelMessage,
    on_behalf_of: str | None = None,
) -> None:
    """Ask a coordinator to redrive a job, or to cancel a migration, for a user."""
    with translated():
        sqs.send_message(
            QueueUrl=jobs_queue_url,
            MessageBody=request.model_dump_json(),
            **_original(on_behalf_of),
        )


def _original(sender: str | None) -> dict[str, Any]:
    if sender is None:
        return {}
    attribute = {"DataType": "String", "StringValue": sender}
    return {"MessageAttributes": {ORIGINAL_SENDER: attribute}}
