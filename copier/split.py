"""A huge object copied by many copiers at once (see ``s3migrator.part_work``).

The parent (a batch holding only the object): its copier starts the upload, records it with a
conditional write keyed by the parent's id, sends every part batch, notes them sent, and only
then lets its message go. Each part batch: claimed, its parts copied with ``UploadPartCopy``
under the listed ETag, then done once, in one transaction with its index added to the upload's
done set. Whoever finds every part batch done claims the completion, completes the upload with
the ETags recorded, and ends the upload in the transaction that counts the parent. A part that
fails for good (the source changed, access denied, the attempts spent), or a job that is no
longer running, fails the object: the upload is aborted and the parent counted failed, in the
same transaction. While the upload is open, some message of it is always in the queue (the
parent until its part batches are sent, each part batch until it is done, the completer's
until the parent is counted), so a copier is always bound to come back to it.

Interleavings it survives (each driven by ``tests/component/test_split_objects.py``):

* The parent delivered to two copiers at once: both may create an upload; one record wins, the
  loser aborts its own upload and goes on with the recorded one (sending the same part batch
  ids again if they were not noted sent). A parent delivered after its parts were sent sends
  nothing; one delivered after the upload ended counts the parent if no one has.
* A part batch delivered twice, at once or late: the claim lets one delivery copy it (the
  other is hidden); done is a condition, so it is recorded once; a late one finds it done.
* A copier dying anywhere: before the record (its upload is orphaned, as a single copier's
  would be, for the bucket's lifecycle rule), while copying (the claim runs out, the message
  comes back), after completing and before counting (the next delivery finds every part done
  and the upload open: it completes again, or finds the object already in place, and counts).
* A failure for good while other part batches run: noted once; no part batch is done after
  it, so no copier completes an upload another aborts.
* The job failing or being cancelled, or a part batch dead-lettered (the sweep notes it and
  sends it back): the next message of the upload aborts it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copier.fates import Decision, Fate
from copier.objects import AlreadyCopied, ObjectCopier
from copier.parts import plan_parts
from copier.properties import completed_part, part_algorithm, part_request
from copier.split_plan import checked_of, part_batches, splits, upload_plan
from copier.upload_requests import abort_upload, current_item, in_place
from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.backoff import backoff_s
from s3migrator.checksums import WholeChecksum
from s3migrator.errors import (
    ConditionFailedError,
    Missing,
    NotFoundError,
    OperationError,
    PermanentError,
    TransientError,
)
from s3migrator.failures import FailureRecord
from s3migrator.part_work import PartBatch, UploadRecord, UploadState, part_batch_id
from s3migrator.sqs.queues import MAX_DELAY_S, send_bodies
from s3migrator.work import BatchOutcome, WorkBatch, WorkItem

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore

log = logging.getLogger(__name__)
JOB_ENDED = "JobEnded"
# How long a completion is held: one CompleteMultipartUpload of 10,000 parts takes minutes.
COMPLETION_CLAIM_S = 900
SEND_GROUP = 10
# What a copy may raise: the provider's errors, and the project's own (a refusal it decided).
_COPY_ERRORS: tuple[type[Exception], ...] = (*PROVIDER_ERRORS, OperationError)


@dataclass
class SplitCopier:
    sqs: SQSClient
    queue_url: str
    store: JobStore
    copier: ObjectCopier
    parts_pool: Executor
    owner: str
    split_object_bytes: int
    part_batch_bytes: int
    visibility_s: int = 120
    max_item_attempts: int = 5
    retry_delay_base_s: float = 5.0
    # Called at named steps ("created", "completed"): tests stop or order copiers there.
    step: Callable[[str, str], None] = field(default=lambda _step, _batch: None)

    def applies(self, batch: WorkBatch) -> bool:
        return splits(batch, self.split_object_bytes)

    # --- the parent ---------------------------------------------------------------------------

    def parent(self, batch: WorkBatch, deliveries: int) -> Decision:
        uploads = self.store.uploads
        record = uploads.get(batch.job_id, batch.batch_id)
        if record is None:
            item = batch.items[0]
            if not uploads.job_running(batch.job_id):
                failure = item.failure(JOB_ENDED, "the job ended before the copy began", attempts=1)
                return self._count_alone(batch, failure)
            try:
                record = self._begin(batch)
            except _COPY_ERRORS as exc:
                error = translate(exc)
                attempts = max(deliveries, item.attempt)
                if isinstance(error, TransientError) and attempts < self.max_item_attempts:
                    raise  # SQS delivers the parent again
                failure = item.failure(
                    error.code, error.message, attempts=attempts, http_status=error.http_status
                )
                return self._count_alone(batch, failure)
        if record.state is not UploadState.OPEN or record.failure or record.all_done:
            return self._finish(record)
        if not record.sent:
            bodies = [
                PartBatch.of(batch, plan.index).body()
                for plan in part_batches(record)
                if plan.index not in record.done
            ]
            for start in range(0, len(bodies), SEND_GROUP):
                send_bodies(self.sqs, self.queue_url, bodies[start : start + SEND_GROUP])
            uploads.mark_sent(batch.job_id, batch.batch_id)
        return Decision(Fate.DELETE, f"batch {batch.batch_id}: {record.total} part batches sent")

    def _begin(self, batch: WorkBatch) -> UploadRecord:
        """Start the upload and record it; the recorded one if another delivery was first."""
        spec, item = batch.spec, batch.items[0]
        s3 = self.copier.clients.for_location(spec.destination, spec)
        try:
            upload_id, checked = self.copier.begin_upload(s3, spec, item)
        except PROVIDER_ERRORS as exc:
            if not isinstance(translate(exc), ConditionFailedError):
                raise
            item = current_item(s3, spec, item)  # changed since listed: copy it as it is now
            upload_id, checked = self.copier.begin_upload(s3, spec, item)
        self.step("created", batch.batch_id)
        record = self._record(batch, item, upload_id, checked)
        if self.store.uploads.begin(record):
            log.info("%s: %d part batches for %s", batch.batch_id, record.total, item.key)
            return record
        recorded = self.store.uploads.get(batch.job_id, batch.batch_id)
        assert recorded is not None
        if recorded.upload_id == upload_id:
            return recorded  # ours: the write's answer was lost and its retry refused
        # Another delivery of the parent recorded its upload first: ours is not needed.
        abort_upload(s3, spec, item, upload_id)
        return recorded

    def _record(
        self, batch: WorkBatch, item: WorkItem, upload_id: str, checked: WholeChecksum | None
    ) -> UploadRecord:
        preferred = batch.spec.options.part_size_bytes or self.copier.part_size_bytes
        size, per_batch, total = upload_plan(item.size, preferred, self.part_batch_bytes)
        return UploadRecord(
            parent=batch,
            item=item,
            upload_id=upload_id,
            part_size=size,
            per_batch=per_batch,
            total=total,
            checked_algorithm=checked.algorithm if checked else None,
            checked_value=checked.value if checked else None,
        )

    # --- a part batch -------------------------------------------------------------------------

    def part(self, batch: PartBatch, deliveries: int) -> Decision:
        uploads = self.store.uploads
        record = uploads.get(batch.job_id, batch.parent)
        if record is None:
            return Decision(Fate.LEAVE, f"part batch {batch.batch_id} has no recorded upload")
        if record.state is not UploadState.OPEN or record.failure or record.all_done:
            return self._finish(record)
        if batch.index in record.done:
            return Decision(Fate.DELETE, f"part batch {batch.batch_id} was done")
        if not uploads.job_running(batch.job_id):
            failure = record.item.failure(
                JOB_ENDED,
                "the job ended (failed or cancelled) before its parts were copied",
                attempts=batch.attempt,
            )
            uploads.fail(record, failure)
            return self._finish(self._reread(record))
        if not uploads.claim_part(
            batch.job_id, batch.batch_id, self.owner, uploads.now() + self.visibility_s
        ):
            held = uploads.part(batch.job_id, batch.batch_id)
            if held is not None and held.done:  # done meanwhile: nothing to hide it for
                return self._finish(self._reread(record))
            # Back when the holder's claim runs out: a holder that died is not waited for.
            until = held.claim_until if held is not None else uploads.now()
            wait = max(1, int(until - uploads.now()) + 1)
            return Decision(
                Fate.LATER, f"part batch {batch.batch_id}: another copier copies it", wait
            )
        try:
            parts = self._copy_parts(record, batch)
        except _COPY_ERRORS as exc:
            return self._part_failed(record, batch, translate(exc), max(deliveries, batch.attempt))
        self.step("copied", batch.batch_id)
        uploads.part_done(batch.job_id, batch.parent, batch.batch_id, batch.index, parts)
        return self._finish(self._reread(record))

    def _copy_parts(self, record: UploadRecord, batch: PartBatch) -> list[dict[str, Any]]:
        """Copy the part batch's parts in parallel, renewing its claim as they run."""
        spec, item = record.parent.spec, record.item
        s3 = self.copier.clients.for_location(spec.destination, spec)
        plan = part_batches(record)[batch.index - 1]
        ranges = plan_parts(item.size, record.part_size)
        futures = [
            self.parts_pool.submit(
                s3.upload_part_copy,
                **part_request(spec, item, record.upload_id, ranges[number - 1]),
            )
            for number in plan.numbers
        ]
        algorithm = part_algorithm(spec, checked_of(record))
        parts: list[dict[str, Any]] = []
        try:
            for number, future in zip(plan.numbers, futures, strict=True):
                parts.append(dict(completed_part(algorithm, number, self._wait(batch, future))))
        except BaseException:
            for future in futures:  # none starts once the batch has failed
                future.cancel()
            # Parts already running end first: an abort while a part is being copied may
            # leave that part stored (S3 says so), so the abort waits for them.
            wait_for(futures)
            raise
        return parts

    def _wait(self, batch: PartBatch, future: Future[Any]) -> Any:
        """A part's answer, the part batch's claim renewed while it runs."""
        while True:
            try:
                return future.result(timeout=self.visibility_s / 2)["CopyPartResult"]
            except TimeoutError:
                until = self.store.now() + self.visibility_s
                self.store.uploads.claim_part(batch.job_id, batch.batch_id, self.owner, until)

    def _part_failed(
        self, record: UploadRecord, batch: PartBatch, error: OperationError, attempts: int
    ) -> Decision:
        uploads = self.store.uploads
        if isinstance(error, NotFoundError) and error.missing is Missing.UPLOAD:
            record = self._reread(record)
            if record.state is not UploadState.OPEN or record.failure:
                return self._finish(record)  # aborted meanwhile, by whoever ended it
        elif isinstance(error, TransientError) and attempts < self.max_item_attempts:
            again = batch.model_copy(update={"attempt": batch.attempt + 1})
            delay = backoff_s(
                batch.attempt,
                base_s=self.retry_delay_base_s,
                cap_s=MAX_DELAY_S,
                jitter=random.uniform(0.5, 1.0),
            )
            uploads.release_part(batch.job_id, batch.batch_id, self.owner)
            with translated():
                self.sqs.send_message(
                    QueueUrl=self.queue_url, MessageBody=again.body(), DelaySeconds=delay
                )
            log.warning("part batch %s: %s; again in %ds", batch.batch_id, error, delay)
            return Decision(
                Fate.DELETE, f"part batch {batch.batch_id} goes on as attempt {attempts + 1}"
            )
        failure = record.item.failure(
            error.code, error.message, attempts=attempts, http_status=error.http_status
        )
        uploads.fail(record, failure)
        return self._finish(self._reread(record))

    # --- the end of the upload ----------------------------------------------------------------

    def _finish(self, record: UploadRecord) -> Decision:
        """Carry the upload on to its end as far as it has come: count an ended upload's parent
        if no one has, complete one whose parts are all done, abort one whose object failed."""
        if record.state is not UploadState.OPEN:
            if record.state is UploadState.COMPLETED:
                outcome = BatchOutcome(copied=record.parent.items, bytes_copied=record.item.size)
            else:
                # Again: a part that was being copied while it was aborted may have been
                # stored after it (S3 says so); an abort of an ended upload costs nothing.
                self._abort_or_say(record)
                outcome = BatchOutcome(failures=[self._failure_of(record)])
            self.store.batches.count(record.parent, outcome)
            return Decision(Fate.DELETE, f"the upload of {record.parent.batch_id} has ended")
        if record.all_done:
            return self._complete(record)
        if record.failure is not None:
            return self._abort_and_count(record, record.failure)
        return Decision(
            Fate.DELETE, f"{record.parent.batch_id}: {len(record.done)} of {record.total} done"
        )

    def _complete(self, record: UploadRecord) -> Decision:
        uploads = self.store.uploads
        until = uploads.now() + COMPLETION_CLAIM_S
        if not uploads.claim_completion(record, self.owner, until):
            current = self._reread(record)
            if current.state is not UploadState.OPEN:
                return self._finish(current)
            wait = max(1, int(current.completer_until - uploads.now()) + 1)
            return Decision(Fate.LATER, f"{record.parent.batch_id}: being completed", wait)
        spec, item = record.parent.spec, record.item
        s3 = self.copier.clients.for_location(spec.destination, spec)
        ids = [part_batch_id(record.parent.batch_id, p.index) for p in part_batches(record)]
        parts: list[Any] = [
            part for found in uploads.parts_of(record.job_id, ids) for part in found.parts
        ]
        verified = False
        try:
            verified = self.copier.complete(
                s3, spec, item, record.upload_id, parts, True, checked_of(record)
            )
        except AlreadyCopied:
            # Under ``never``, this very content is there already: the upload, refused its
            # completion, still holds every part copied, and is aborted.
            self._abort_or_say(record)
        except _COPY_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, TransientError):
                raise  # the message comes back; the claim is ours again
            if not (
                isinstance(error, NotFoundError)
                and error.missing is Missing.UPLOAD
                and in_place(s3, spec, item, parts)
            ):
                failure = item.failure(error.code, error.message, attempts=1)
                return self._abort_and_count(record, failure)
        self.step("completed", record.parent.batch_id)
        outcome = BatchOutcome(
            copied=record.parent.items, bytes_copied=item.size, verified=int(verified)
        )
        return self._count(record, UploadState.COMPLETED, outcome)

    def _abort_and_count(self, record: UploadRecord, failure: FailureRecord) -> Decision:
        refused = self._abort_or_say(record)
        if refused is not None:  # reported with the object, not tried again for ever
            said = {**failure.model_dump(), "message": f"{failure.message}; {refused}"}
            failure = FailureRecord.model_validate(said)
        log.warning("%s failed (%s); upload aborted", record.item.key, failure.code)
        return self._count(record, UploadState.ABORTED, BatchOutcome(failures=[failure]))

    def _abort_or_say(self, record: UploadRecord) -> str | None:
        """Abort the upload; what S3 said when it refuses for good (a transient refusal is
        raised: the message comes back and the abort is tried again)."""
        spec = record.parent.spec
        s3 = self.copier.clients.for_location(spec.destination, spec)
        try:
            abort_upload(s3, spec, record.item, record.upload_id)
        except PermanentError as error:
            log.error("%s: upload %s not aborted: %s", record.item.key, record.upload_id, error)
            return f"its upload {record.upload_id} could not be aborted ({error}): abort it"
        return None

    def _count(self, record: UploadRecord, end: UploadState, outcome: BatchOutcome) -> Decision:
        """Count the parent and end the upload in one transaction; if the parent was counted
        (or replaced) by another, end the upload alone."""
        closing = self.store.uploads.closing(record, end)
        if self.store.batches.count(record.parent, outcome, also=[closing]):
            return Decision(Fate.DELETE, f"batch {record.parent.batch_id} counted ({end.value})")
        self.store.uploads.close(record, end)
        return Decision(Fate.DELETE, f"batch {record.parent.batch_id} was counted meanwhile")

    def _count_alone(self, batch: WorkBatch, failure: FailureRecord) -> Decision:
        """The object failed before any upload was recorded for it."""
        self.store.batches.count(batch, BatchOutcome(failures=[failure]))
        return Decision(Fate.DELETE, f"batch {batch.batch_id}: {failure.code}")

    def _failure_of(self, record: UploadRecord) -> FailureRecord:
        return record.failure or record.item.failure(
            "UploadAborted", "the upload was aborted", attempts=1
        )

    def _reread(self, record: UploadRecord) -> UploadRecord:
        current = self.store.uploads.get(record.job_id, record.parent.batch_id)
        assert current is not None  # an upload record is never deleted
        return current
