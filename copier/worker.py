"""The copier loop: receive batches, copy their objects in one bounded pool, settle each message.

A batch is looked up before anything is copied: one already counted (a redelivery), or replaced,
is dropped without a copy. Its decided objects (copied, or failed for good) are counted in one
transaction, and objects that failed transiently go on alone in a remainder batch, defined in
that same transaction and sent after a backoff, so a transient error costs a request, not a
batch. A batch still copying after ``claim_after_s`` (a terabyte object travels alone, and can
take longer than SQS's 12-hour visibility cap) is claimed in the job table, and the claim
renewed while it runs: another copier that receives it meanwhile hides it again instead of
copying it, and the dead-letter sweep never takes it for dead. A message's fate is decided in
exactly one place (``Worker._settle``); SQS's redrive policy owns dead-lettering.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from typing import TYPE_CHECKING

from pydantic import ValidationError

from copier.deletion import delete_extra
from copier.fates import Decision, Fate
from copier.objects import ObjectCopier
from copier.protection import TaskProtection
from copier.remainders import remainder_of, restore_timeout
from copier.restore import RestoreWaiting, copy_restored
from copier.split import SplitCopier
from copier.versions import copy_history, nth, versioned
from s3migrator.aws_errors import translate, translated
from s3migrator.backoff import backoff_s
from s3migrator.errors import TransientError
from s3migrator.failures import FailureRecord
from s3migrator.models import CopySpec
from s3migrator.part_work import WORK, PartBatch
from s3migrator.sqs.intake import Intake
from s3migrator.sqs.queues import LATER_VISIBILITY_S, MAX_DELAY_S
from s3migrator.sqs.visibility import VisibilityKeeper
from s3migrator.work import BatchOutcome, BatchRecord, BatchState, WorkBatch, WorkItem

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from s3migrator.jobstore import JobStore

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    copied: list[WorkItem] = field(default_factory=list)
    deleted: list[WorkItem] = field(default_factory=list)
    bytes_copied: int = 0
    verified: int = 0
    failures: list[FailureRecord] = field(default_factory=list)
    transient: list[WorkItem] = field(default_factory=list)
    waiting: list[WorkItem] = field(default_factory=list)  # for their restore
    first_transient: str = ""


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
    retry_delay_base_s: float = 5.0
    claim_after_s: float = 3600.0
    # How long an object waiting for its restore waits between looks, and how many looks.
    restore_poll_s: int = MAX_DELAY_S
    max_restore_waits: int = 192
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    visibility_s: int = 120
    wait_time_s: int = 20
    idle_exit_s: float = 0.0
    stop_grace_s: float = 25.0
    # After the grace, how long running part copies may take before their uploads are aborted.
    abort_wait_s: float = 4.0
    protection: TaskProtection = field(default_factory=lambda: TaskProtection(None))
    stop: threading.Event = field(default_factory=threading.Event)
    # Huge objects' parts, copied by many copiers at once (``copier.split``).
    split: SplitCopier | None = None
    batches_settled: int = 0
    _specs: dict[str, CopySpec] = field(default_factory=dict)

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
                attributes=("ApproximateReceiveCount",),
            )
            try:
                while not self.stop.is_set():
                    taken = intake.turn()
                    self.protection.update(busy=bool(intake.active))
                    if taken or intake.active:
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
                    # The process exits next: no multipart upload of ours may outlive it.
                    aborted = self.copier.abandon(self.abort_wait_s)
                    log.warning("aborted %d multipart uploads on stop", aborted)
            finally:
                batches.shutdown(wait=not abandoned, cancel_futures=abandoned)
                self.protection.update(busy=False)
        return abandoned

    def _handle(self, message: MessageTypeDef, keeper: VisibilityKeeper) -> None:
        try:
            self.handle(message, keeper)
        except Exception:
            keeper.release(message["MessageId"])
            log.exception("batch message %s failed; SQS will redeliver it", message["MessageId"])

    def handle(self, message: MessageTypeDef, keeper: VisibilityKeeper | None = None) -> Decision:
        """Process one received batch message and settle it; errors are left to the caller
        (the message is then redelivered by SQS)."""
        decision = self._process(message)
        if keeper is not None:
            keeper.release(message["MessageId"])  # before settling, so no beat follows it
        self._settle(message, decision)
        return decision

    def _process(self, message: MessageTypeDef) -> Decision:
        try:
            batch = WORK.validate_json(message.get("Body", ""))
        except ValidationError as exc:
            return Decision(Fate.LEAVE, f"malformed work message: {exc.error_count()} errors")
        deliveries = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if isinstance(batch, PartBatch):
            return self._process_part(batch, deliveries)
        batches = self.store.batches
        record = batches.get(batch.job_id, batch.batch_id)
        if record is None:
            return Decision(Fate.LEAVE, f"batch {batch.batch_id} was never defined")
        if record.state is BatchState.COUNTED:
            # A redelivery; if the copier that counted it died before sending its remainder,
            # the remainder goes now.
            self._send_remainder_of(batch, record)
            return Decision(Fate.DELETE, f"batch {batch.batch_id} was already counted")
        if record.state is BatchState.VOID or record.digest != batch.digest:
            return Decision(Fate.DELETE, f"batch {batch.batch_id} was replaced")
        spec = self._spec_of(batch.job_id)
        if spec is None:
            return Decision(Fate.LEAVE, f"job {batch.job_id} has no record")
        if spec != batch.spec:
            # Not the stack's: the work queue takes only its roles' messages, and every batch
            # they send carries the job's spec as recorded. The real one comes on its own.
            log.error("batch %s does not carry its job's spec; deleted", batch.batch_id)
            return Decision(Fate.DELETE, f"batch {batch.batch_id} is not its job's")
        if record.claim_owner not in (None, self.owner) and record.claim_until > batches.now():
            return Decision(Fate.LATER, f"batch {batch.batch_id} is being copied by another")
        # An earlier delivery (SQS's, an earlier attempt's or run's, or the message a
        # coordinator sent before this one) may have copied any of the batch's objects, its
        # answer lost.
        if self.split is not None and self.split.applies(batch):
            return self.split.parent(batch, deliveries)
        repeat = (
            deliveries > 1
            or batch.attempt > 1
            or batch.waits > 0  # a remainder: its objects may have been copied meanwhile
            or batch.resent
        )
        again = repeat or batch.epoch > 0
        if versioned(batch) and not batches.claim(
            batch.job_id, batch.batch_id, self.owner, batches.now() + self.visibility_s
        ):
            # Histories are written in order by one copier at a time: two deliveries at once
            # would both add the versions after the first.
            return Decision(Fate.LATER, f"batch {batch.batch_id}: another copier writes it")
        result = self._copy(batch, again, repeat)
        if result.waiting and batch.waits >= self.max_restore_waits:
            result.failures += [restore_timeout(item, batch) for item in result.waiting]
            result.waiting = []
        remainder = remainder_of(batch, result.transient, result.waiting)
        outcome = BatchOutcome(
            copied=result.copied,
            bytes_copied=result.bytes_copied,
            failures=result.failures,
            deleted=result.deleted,
            verified=result.verified,
        )
        if not batches.count(batch, outcome, remainder):
            # By another delivery of it, whose copier may have died before sending the
            # remainder it spawned: this message is deleted next, so the remainder goes now.
            counted = batches.get(batch.job_id, batch.batch_id)
            if counted is not None:
                self._send_remainder_of(batch, counted)
            return Decision(Fate.DELETE, f"batch {batch.batch_id} was counted meanwhile")
        if remainder is not None:
            delay = (
                self.restore_poll_s
                if not result.transient
                else backoff_s(
                    batch.attempt,
                    base_s=self.retry_delay_base_s,
                    cap_s=MAX_DELAY_S,
                    jitter=random.uniform(0.5, 1.0),
                )
            )
            log.warning(
                "batch %s: %d objects failed transiently (first: %s), %d wait for their restore;"
                " they go on in %s in %ds",
                batch.batch_id,
                len(result.transient),
                result.first_transient,
                len(result.waiting),
                remainder.batch_id,
                delay,
            )
            self._send(remainder, delay)
        return Decision(Fate.DELETE, f"batch {batch.batch_id} counted")

    def _process_part(self, batch: PartBatch, deliveries: int) -> Decision:
        spec = self._spec_of(batch.job_id)
        if spec is None or self.split is None:
            return Decision(Fate.LEAVE, f"part batch {batch.batch_id}: no job, or no splitting")
        if spec != batch.spec:
            log.error("part batch %s does not carry its job's spec; deleted", batch.batch_id)
            return Decision(Fate.DELETE, f"part batch {batch.batch_id} is not its job's")
        return self.split.part(batch, deliveries)

    def _spec_of(self, job_id: str) -> CopySpec | None:
        """The job's spec as recorded, which every batch of the job carries (read once per
        job: a spec never changes), so no message can point a job's keys elsewhere."""
        spec = self._specs.get(job_id)
        if spec is None:
            spec = self.store.spec_of(job_id)
            if spec is not None:
                self._specs[job_id] = spec
        return spec

    def _copy(self, batch: WorkBatch, again: bool, repeat: bool = False) -> BatchResult:
        """Copy every object; transient failures are failures on an object's last attempt."""
        result = BatchResult()
        futures = self._start_all(batch, again, repeat)
        # A batch of histories is claimed from the start, and kept claimed while it runs.
        every = self.visibility_s / 2 if versioned(batch) else self.claim_after_s
        self._wait_claiming(batch, [future for _, future in futures], every)
        for item, future in futures:
            error = future.exception()
            if error is None and item.delete:
                result.deleted.append(item)
                continue
            if error is None:
                result.copied.append(item)
                result.bytes_copied += future.result()
                result.verified += bool(getattr(future.result(), "verified", False))
                continue
            copy_error = translate(error)
            if isinstance(copy_error, RestoreWaiting):
                result.waiting.append(item)
                continue
            last_attempt = item.attempt >= self.max_item_attempts
            if isinstance(copy_error, TransientError) and not last_attempt:
                result.transient.append(item)
                result.first_transient = result.first_transient or str(copy_error)
                continue
            if (
                isinstance(copy_error, TransientError)
                and not item.delete
                and item.version_id is None
                and self.copier.landed(batch.spec, item, by_content=True)
            ):
                result.copied.append(item)  # an earlier attempt's copy, its answer lost
                result.bytes_copied += item.size
                continue
            result.failures.append(
                item.failure(
                    copy_error.code,
                    copy_error.message,
                    attempts=item.attempt,
                    http_status=copy_error.http_status,
                )
            )
        return result

    def _start_all(
        self, batch: WorkBatch, again: bool, repeat: bool
    ) -> list[tuple[WorkItem, Future[int]]]:
        """A future per item: each object copied on its own, or, for a job copying every
        version, each key's history written in order by one task (``copier.versions``)."""
        spec = batch.spec
        if not versioned(batch):
            return [(item, self._start(spec, item, again)) for item in batch.items]
        started: list[tuple[WorkItem, Future[int]]] = []
        for _, group in groupby(batch.items, key=lambda item: item.key):
            history = list(group)
            task = self.copy_pool.submit(
                copy_history,
                self.copier.clients.for_location(spec.destination, spec),
                partial(self.copier.copy, again=again),
                spec,
                history,
                append=batch.redrive,
                repeat=repeat,
                last_attempt=max(item.attempt for item in history) >= self.max_item_attempts,
            )
            started += [(item, nth(task, n)) for n, item in enumerate(history)]
        return started

    def _start(self, spec: CopySpec, item: WorkItem, again: bool) -> Future[int]:
        if item.restore:
            return self.copy_pool.submit(copy_restored, self.copier, spec, item, again)
        if item.delete:
            return self.copy_pool.submit(delete_extra, self.copier.clients, spec, item)
        return self.copy_pool.submit(self.copier.copy, spec, item, again=again)

    def _wait_claiming(self, batch: WorkBatch, futures: list[Future[int]], every: float) -> None:
        """Wait for the copies, claiming the batch each ``every`` seconds they still run."""
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=every)
            if not pending:
                return
            until = self.store.now() + 2 * every
            if self.store.batches.claim(batch.job_id, batch.batch_id, self.owner, until):
                log.info("batch %s: still copying; claimed until %.0f", batch.batch_id, until)
            else:
                log.warning("batch %s: claimed by another copier meanwhile", batch.batch_id)

    def _send_remainder_of(self, batch: WorkBatch, record: BatchRecord) -> None:
        remainder = self.store.batches.remainder_to_send(batch, record)
        if remainder is not None:
            # A remainder that only waits for restores waits as long as it would have.
            waits_only = remainder.waits > batch.waits and remainder.attempt == batch.attempt
            self._send(remainder, self.restore_poll_s if waits_only else 0)

    def _send(self, batch: WorkBatch, delay_s: int) -> None:
        with translated():
            self.sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=batch.body(), DelaySeconds=delay_s
            )

    def _settle(self, message: MessageTypeDef, decision: Decision) -> None:
        """The one place a work message's fate is decided."""
        if decision.fate is Fate.LEAVE:
            # Not ours to fix: left for the redrive policy to move to the dead-letter queue.
            log.error("message %s: %s", message["MessageId"], decision.reason)
            return
        if decision.fate is Fate.LATER:
            log.info("message %s: %s; looked at again later", message["MessageId"], decision.reason)
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=decision.hide_s or LATER_VISIBILITY_S,
            )
            return
        log.debug("message %s: %s", message["MessageId"], decision.reason)
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.batches_settled += 1
