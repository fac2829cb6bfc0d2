"""The coordinator process: long-polls the jobs queue and runs the jobs it receives.

Several jobs run at once (one thread each), so a long listing never holds up a new job. A job
message is deleted as soon as its job is recorded and taken (or found to need nothing): from
then on the job lives in DynamoDB and resumes through resume messages, so no restart spends the
message's receives. A job message without a ``job_id`` takes its SQS MessageId as the job's id,
the same on every delivery. Bad input never crashes it: a message with a usable job id but no
valid job becomes a failed job with its reason; one without lands in the jobs dead-letter queue
with the reason attached. The same queue brings the stack's own notes: resume messages (take a
job up from its checkpoint) and report messages (write a finished job's completion report).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from coordinator.completion_report import write_report
from coordinator.jobs import JobRunner
from coordinator.redrive import redrive
from s3migrator.errors import (
    InvalidJobError,
    InvalidJobMessageError,
    OperationError,
    S3MigratorError,
    TransientError,
)
from s3migrator.migration_control import cancel_migration
from s3migrator.models import JobMessage
from s3migrator.notes import CancelMessage, RedriveMessage, ReportMessage, ResumeMessage
from s3migrator.sqs.intake import Intake
from s3migrator.sqs.queues import ORIGINAL_SENDER
from s3migrator.sqs.visibility import VisibilityKeeper

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from s3migrator.resources import Resources

log = logging.getLogger(__name__)
RETRY_AFTER_ERROR_S = 10
SENDER_ID = "SenderId"
NoteT = TypeVar("NoteT", ResumeMessage, ReportMessage, RedriveMessage, CancelMessage)


def _note(kind: type[NoteT], body: str) -> NoteT | None:
    """The stack's own note (a resume or a report message) the body is, or None."""
    try:
        return kind.model_validate_json(body)
    except ValidationError:
        return None


@dataclass
class Coordinator:
    runner: JobRunner
    sqs: SQSClient
    resources: Resources
    visibility_s: int
    wait_time_s: int = 20
    jobs_in_parallel: int = 4

    @property
    def stop(self) -> threading.Event:
        return self.runner.stop

    def serve(self, *, once: bool = False) -> None:
        """Run until stopped; with ``once``, until the jobs queue is empty and jobs are done."""
        queue_url = self.resources.jobs_queue_url
        with (
            VisibilityKeeper(self.sqs, queue_url, self.visibility_s) as keeper,
            ThreadPoolExecutor(self.jobs_in_parallel, thread_name_prefix="job") as pool,
        ):
            intake = Intake(
                self.sqs,
                queue_url,
                keeper,
                pool,
                self._handle_held,
                slots=self.jobs_in_parallel,
                visibility_s=self.visibility_s,
                wait_time_s=self.wait_time_s,
                attributes=(SENDER_ID,),
                message_attributes=(ORIGINAL_SENDER,),
            )
            while not self.stop.is_set():
                if not intake.turn() and not intake.active and once:
                    return
            # Stopping: each running job checkpoints, releases its lease and its message.
            wait(intake.active)

    def _handle_held(self, message: MessageTypeDef, keeper: VisibilityKeeper) -> None:
        try:
            self.handle(message, keeper)
        except Exception:
            log.exception("job message %s could not be settled", message["MessageId"])
        finally:
            keeper.release(message["MessageId"])

    def handle(self, message: MessageTypeDef, keeper: VisibilityKeeper | None = None) -> None:
        """Decide the fate of one job message: the only place that deletes or releases it.

        The message goes once its job is recorded and taken for a run (or needs nothing); the
        run's work follows, with the job's state in DynamoDB alone.
        """
        body = message.get("Body", "")
        report = _note(ReportMessage, body)
        if report is not None:
            self._write_report(message, keeper, report.report)
            return
        sender = message.get("Attributes", {}).get("SenderId")
        # A dead letter moved back carries who sent it first: both must be submitters (the
        # attribute alone proves nothing; anyone may set it).
        attributes: dict[str, Any] = dict(message.get("MessageAttributes", {}))
        original: str | None = attributes.get(ORIGINAL_SENDER, {}).get("StringValue")
        resume = _note(ResumeMessage, body)
        if resume is None:
            # Before the body is even read as a job: an unlisted sender cannot take a job id,
            # not even by sending a bad message that names one.
            try:
                refusal = self.runner.authority.senders_refusal(sender, original)
            except TransientError as exc:
                log.warning("job message %s: %s; it will be retried", message["MessageId"], exc)
                self._retry_later(message, keeper)
                return
            if refusal is not None:
                self._dead_letter(message, refusal, original or sender)
                return
        # A user's request (its senders checked above, as a job message's).
        if (asked := _note(RedriveMessage, body)) is not None:
            target = asked.redrive
            self._carry_out(message, keeper, target, "redrive", lambda: self._redrive(target))
            return
        if (cancel := _note(CancelMessage, body)) is not None:
            target = cancel.cancel
            self._carry_out(message, keeper, target, "cancel", lambda: self._cancel(target))
            return
        try:
            job_id, job = self._parse(message["MessageId"], body, resume)
        except InvalidJobMessageError as exc:
            self._reject(message, exc)
            return
        if job is not None:
            try:
                job = self.runner.authority.bind(job)
            except InvalidJobError as exc:
                self._reject(message, InvalidJobMessageError(str(exc), job_id))
                return
        try:
            run = self.runner.take(job_id, job, self.runner.authority.recorded(sender, original))
        except Exception:
            # An AWS outage or a bug must not stop other jobs; the message comes back later
            # and, after the redrive policy's limit, lands in the jobs dead-letter queue.
            log.exception("job message %s failed; it will be retried", message["MessageId"])
            self._retry_later(message, keeper)
            return
        self._delete(message, keeper)
        if run is not None:
            end = self.runner.work(run)
            log.info("job %s: run ended %s", job_id, end.value)

    def _write_report(
        self, message: MessageTypeDef, keeper: VisibilityKeeper | None, job_id: str
    ) -> None:
        """Write the report while the keeper holds the message; an error leaves the message to
        come back (and the progress function sends another while the report stays due)."""
        try:
            end = write_report(self.runner.store, self.runner.clients, job_id)
        except Exception as exc:
            log.warning("job %s: report not written yet: %s", job_id, exc)
            self._retry_later(message, keeper)
            return
        log.info("job %s: report %s", job_id, end.value)
        self._delete(message, keeper)

    def _carry_out(
        self,
        message: MessageTypeDef,
        keeper: VisibilityKeeper | None,
        job_id: str,
        what: str,
        act: Callable[[], str],
    ) -> None:
        """Do a user's request (``act`` returns what was done): a passing AWS error leaves the
        message to come back; a request the job refuses (not a running migration, no failures
        to redrive) is dropped."""
        try:
            done = act()
        except OperationError as exc:
            log.warning("job %s: %s not done yet: %s", job_id, what, exc)
            self._retry_later(message, keeper)
            return
        except S3MigratorError as exc:
            log.warning("job %s: %s refused: %s", job_id, what, exc)
        else:
            log.info("job %s: %s: %s", job_id, what, done)
        self._delete(message, keeper)

    def _redrive(self, job_id: str) -> str:
        """As ``s3migrator redrive`` does (its dead letters were swept by whoever asked)."""
        runner = self.runner
        sent = redrive(
            runner.store, self.sqs, self.resources.work_queue_url, job_id, runner.settings
        )
        return f"{sent} objects sent back to work"

    def _cancel(self, job_id: str) -> str:
        """As ``s3migrator cancel`` does."""
        cancel_migration(self.runner.store, self.sqs, self.resources.jobs_queue_url, job_id)
        return "cancel asked for"

    def _delete(self, message: MessageTypeDef, keeper: VisibilityKeeper | None) -> None:
        if keeper is not None:
            keeper.release(message["MessageId"])  # before deleting, so no beat follows it
        self.sqs.delete_message(
            QueueUrl=self.resources.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def _retry_later(self, message: MessageTypeDef, keeper: VisibilityKeeper | None) -> None:
        if keeper is not None:
            keeper.release(message["MessageId"])
        self.sqs.change_message_visibility(
            QueueUrl=self.resources.jobs_queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=RETRY_AFTER_ERROR_S,
        )

    @staticmethod
    def _parse(
        message_id: str, body: str, resume: ResumeMessage | None
    ) -> tuple[str, JobMessage | None]:
        """(job id, job message) of a job message, or (job id, None) of a resume message."""
        if resume is not None:
            return resume.resume, None
        job = JobMessage.parse(body)
        return job.job_id or message_id, job

    def _reject(self, message: MessageTypeDef, exc: InvalidJobMessageError) -> None:
        reason = str(exc)
        if exc.job_id is not None and self.runner.reject(exc.job_id, reason):
            log.error("job %s rejected: %s", exc.job_id, reason)
            self.sqs.delete_message(
                QueueUrl=self.resources.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        else:
            self._dead_letter(message, reason, message.get("Attributes", {}).get("SenderId"))

    def _dead_letter(self, message: MessageTypeDef, reason: str, sender: str | None = None) -> None:
        """Move a message to the jobs dead-letter queue with its reason, nothing recorded. The
        dead letter is sent by this coordinator, so its original sender goes with it: moved
        back to the jobs queue, it is refused again rather than taken as the coordinator's."""
        log.error("job message %s dead-lettered: %s", message["MessageId"], reason)
        attributes: dict[str, Any] = {
            "reason": {"DataType": "String", "StringValue": reason},
            "original_message_id": {"DataType": "String", "StringValue": message["MessageId"]},
        }
        if sender:
            attributes[ORIGINAL_SENDER] = {"DataType": "String", "StringValue": sender}
        self.sqs.send_message(
            QueueUrl=self.resources.jobs_dlq_url,
            MessageBody=message.get("Body", "") or "(empty)",
            MessageAttributes=attributes,
        )
        self.sqs.delete_message(
            QueueUrl=self.resources.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
