"""The copier loop: receive batches, copy their objects in one bounded pool, settle each message.

A message's fate is decided in exactly one place (``Worker._settle``): counted and deleted when
every object ended copied or permanently failed, or left for redelivery with backoff when some
object hit a transient error. SQS's redrive policy owns dead-lettering.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from copier.objects import ObjectCopier
from s3migrator.aws_errors import translate
from s3migrator.backoff import backoff_s
from s3migrator.errors import TransientError
from s3migrator.models import FailureRecord, WorkBatch, WorkItem
from s3migrator.sqs.intake import Intake
from s3migrator.sqs.visibility import VisibilityKeeper

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from s3migrator.jobstore import JobStore

log = logging.getLogger(__name__)


def receive_count(message: MessageTypeDef) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))


@dataclass
class BatchResult:
    copied: list[WorkItem] = field(default_factory=list)
    bytes_copied: int = 0
    failures: list[FailureRecord] = field(default_factory=list)
    transient: list[tuple[WorkItem, str]] = field(default_factory=list)


@dataclass
class Worker:
    sqs: SQSClient
    queue_url: str
    store: JobStore
    copier: ObjectCopier
    copy_pool: ThreadPoolExecutor
    messages_in_flight: int = 4
    # Deliveries after which an object still failing transiently is reported failed; below the
    # queue's maxReceiveCount, so such objects are reported rather than dead-lettered.
    max_item_attempts: int = 5
    visibility_s: int = 120
    wait_time_s: int = 20
    idle_exit_s: float = 0.0
    stop_grace_s: float = 25.0
    stop: threading.Event = field(default_factory=threading.Event)
    batches_settled: int = 0

    def serve(self) -> bool:
        """Run until stopped (SIGTERM) or, with ``idle_exit_s``, until the queue stays empty.

        Returns True when batches were still running after the stop grace and were released
        for other copiers; the caller should then exit without waiting for their threads.
        """
        idle_since = time.monotonic()
        # Not a `with` block: on an abandoned stop its threads must not be waited for.
        batches = ThreadPoolExecutor(self.messages_in_flight, thread_name_prefix="batch")
        abandoned = False
        with VisibilityKeeper(self.sqs, self.queue_url, self.visibility_s) as keeper:
            intake = Intake(
                self.sqs,
                self.queue_url,
                keeper,
                batches,
                self._handle,
                slots=self.messages_in_flight,
                visibility_s=self.visibility_s,
                wait_time_s=self.wait_time_s,
                attributes=["ApproximateReceiveCount"],
            )
            try:
                while not self.stop.is_set():
                    if intake.turn() or intake.active:
                        idle_since = time.monotonic()
                    elif self.idle_exit_s and time.monotonic() - idle_since >= self.idle_exit_s:
                        log.info("no work for %.0fs; exiting", self.idle_exit_s)
                        break
                # Stopping: no batch is started; those in hand finish within the grace, or are
                # released at once for another copier to take.
                _, unfinished = wait(intake.active, timeout=self.stop_grace_s)
                if unfinished:
                    abandoned = True
                    log.warning("released %d unfinished batches on stop", keeper.release_all())
                    self.copy_pool.shutdown(wait=False, cancel_futures=True)
            finally:
                batches.shutdown(wait=not abandoned, cancel_futures=abandoned)
        return abandoned

    def _handle(self, message: MessageTypeDef, keeper: VisibilityKeeper) -> None:
        try:
            outcome = self._process(message)
            # Released before settling so a late heartbeat cannot undo a backoff delay.
            keeper.release(message["MessageId"])
            self._settle(message, outcome)
        except Exception:
            keeper.release(message["MessageId"])
            log.exception("batch message %s failed; SQS will redeliver it", message["MessageId"])

    def _process(self, message: MessageTypeDef) -> BatchResult | str:
        try:
            batch = WorkBatch.model_validate_json(message.get("Body", ""))
        except ValidationError as exc:
            return f"malformed work message: {exc.error_count()} errors"
        attempt = receive_count(message)
        last_attempt = attempt >= self.max_item_attempts
        result = BatchResult()
        futures = [
            (item, self.copy_pool.submit(self.copier.copy, batch.spec, item))
            for item in batch.items
        ]
        for item, future in futures:
            error = future.exception()
            if error is None:
                result.copied.append(item)
                result.bytes_copied += future.result()
                continue
            copy_error = translate(error)
            if isinstance(copy_error, TransientError) and not last_attempt:
                result.transient.append((item, str(copy_error)))
                continue
            result.failures.append(
                FailureRecord(
                    key=item.key,
                    code=copy_error.code,
                    message=copy_error.message,
                    http_status=copy_error.http_status,
                    attempts=attempt,
                    size=item.size,
                    etag=item.etag,
                )
            )
        if not result.transient:
            self._count(batch, result)
        return result

    def _count(self, batch: WorkBatch, result: BatchResult) -> None:
        """Record failures, then add the batch to the job's counters exactly once."""
        job_id = batch.spec.job_id
        if batch.redrive and result.copied:
            self.store.failures.delete(job_id, (item.key for item in result.copied))
        if result.failures:
            self.store.failures.put(job_id, result.failures)
        copied = len(result.copied)
        counted = self.store.count_batch(
            job_id,
            batch.batch_id,
            copied=copied,
            # A redrive batch's objects were already counted failed: copies move them over.
            failed=-copied if batch.redrive else len(result.failures),
            bytes_copied=result.bytes_copied,
        )
        if not counted:
            log.info("batch %s was already counted (redelivery)", batch.batch_id)

    def _settle(self, message: MessageTypeDef, outcome: BatchResult | str) -> None:
        """The one place a work message's fate is decided."""
        receipt = message["ReceiptHandle"]
        if isinstance(outcome, str):
            # Not ours to fix: leave it so the redrive policy moves it to the dead-letter queue.
            log.error("message %s: %s", message["MessageId"], outcome)
            return
        if outcome.transient:
            delay = backoff_s(receive_count(message), jitter=random.uniform(0.5, 1.0))
            log.warning(
                "message %s: %d objects failed transiently (first: %s); retry in %ds",
                message["MessageId"],
                len(outcome.transient),
                outcome.transient[0][1],
                delay,
            )
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
            )
            return
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        self.batches_settled += 1
