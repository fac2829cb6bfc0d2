"""The coordinator process: long-polls the jobs queue and runs each job it receives.

Bad input never crashes it: a message that is not a valid job goes to the jobs dead-letter queue
with its reason, and the loop goes on serving other jobs.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from coordinator.jobs import JobRunner, Outcome
from s3migrator.models import JobMessage
from s3migrator.visibility import VisibilityKeeper

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from s3migrator.resources import Resources

log = logging.getLogger(__name__)
MAX_REASON_CHARS = 2000
RETRY_AFTER_ERROR_S = 10


def parse_job(body: str) -> JobMessage:
    """Parse a job message body; raises ValueError with a readable reason."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    try:
        return JobMessage.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValueError(f"invalid job message: {reasons}") from exc


@dataclass
class Coordinator:
    runner: JobRunner
    sqs: SQSClient
    resources: Resources
    visibility_s: int
    wait_time_s: int = 20

    @property
    def stop(self) -> threading.Event:
        return self.runner.stop

    def serve(self, *, once: bool = False) -> None:
        with VisibilityKeeper(self.sqs, self.resources.jobs_queue_url, self.visibility_s) as keeper:
            while not self.stop.is_set():
                messages = self.sqs.receive_message(
                    QueueUrl=self.resources.jobs_queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=self.wait_time_s,
                    VisibilityTimeout=self.visibility_s,
                ).get("Messages", [])
                for message in messages:
                    keeper.hold(message["MessageId"], message["ReceiptHandle"])
                    try:
                        self.handle(message)
                    finally:
                        keeper.release(message["MessageId"])
                if once and not messages:
                    return

    def handle(self, message: MessageTypeDef) -> None:
        """Decide the fate of one job message: the only place that deletes or releases it."""
        receipt = message["ReceiptHandle"]
        try:
            job = parse_job(message.get("Body", ""))
        except ValueError as exc:
            self._dead_letter(message, str(exc))
            return
        try:
            outcome, retry_in_s = self.runner.run(job)
        except Exception:
            # An AWS outage or a bug must not stop other jobs; the message comes back later
            # and, after the redrive policy's limit, lands in the jobs dead-letter queue.
            log.exception("job message %s failed; it will be retried", message["MessageId"])
            outcome, retry_in_s = Outcome.LATER, float(RETRY_AFTER_ERROR_S)
        if outcome == Outcome.DONE:
            self.sqs.delete_message(QueueUrl=self.resources.jobs_queue_url, ReceiptHandle=receipt)
        else:
            self.sqs.change_message_visibility(
                QueueUrl=self.resources.jobs_queue_url,
                ReceiptHandle=receipt,
                VisibilityTimeout=min(int(retry_in_s) + 1, 43_200) if not self.stop.is_set() else 0,
            )

    def _dead_letter(self, message: MessageTypeDef, reason: str) -> None:
        reason = reason[:MAX_REASON_CHARS]
        log.error("rejected job message %s: %s", message["MessageId"], reason)
        self.sqs.send_message(
            QueueUrl=self.resources.jobs_dlq_url,
            MessageBody=message.get("Body", "") or "(empty)",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "original_message_id": {"DataType": "String", "StringValue": message["MessageId"]},
            },
        )
        self.sqs.delete_message(
            QueueUrl=self.resources.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
