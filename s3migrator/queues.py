"""Small SQS helpers shared by the coordinator, the copier and the CLI."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def send_bodies(sqs: SQSClient, queue_url: str, bodies: list[str], attempts: int = 5) -> None:
    """SendMessageBatch for up to ten bodies, re-sending entries SQS reports as failed."""
    entries = {str(i): body for i, body in enumerate(bodies)}
    for attempt in range(attempts):
        result = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": i, "MessageBody": body} for i, body in entries.items()],
        )
        failed = result.get("Failed", [])
        if not failed:
            return
        permanent = [f for f in failed if f.get("SenderFault")]
        if permanent:
            raise ClientError(
                {
                    "Error": {
                        "Code": permanent[0]["Code"],
                        "Message": permanent[0].get("Message", ""),
                    }
                },
                "SendMessageBatch",
            )
        entries = {f["Id"]: entries[f["Id"]] for f in failed}
        time.sleep(0.2 * 2**attempt)
    raise ClientError(
        {"Error": {"Code": "SendFailed", "Message": f"{len(entries)} entries not sent"}},
        "SendMessageBatch",
    )


def queue_depth(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS approximates them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )
