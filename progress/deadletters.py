"""Dead letters into failures, so a job never hangs at 99% on a poisoned batch.

A work batch that kept failing is moved by SQS's redrive policy to the work dead-letter queue.
The sweep counts each such batch, if nobody counted it, as a copier would: in the same one
transaction, with its objects failed (code ``DeadLettered``). A batch a copier still claims (a
long copy outliving SQS's 12-hour visibility) is hidden until its claim runs out.
``s3migrator redrive`` sends failed objects back to work once the cause is fixed.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from s3migrator.aws_errors import translated
from s3migrator.failures import FailureRecord
from s3migrator.part_work import WORK, PartBatch, UploadRecord, UploadState
from s3migrator.sqs.queues import LATER_VISIBILITY_S
from s3migrator.work import BatchOutcome, BatchState, WorkBatch

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore

log = logging.getLogger(__name__)
DEAD_LETTERED = "DeadLettered"


def dead_letter_failures(batch: WorkBatch, deliveries: int) -> list[FailureRecord]:
    reason = (
        f"batch {batch.batch_id} failed {deliveries} deliveries and was dead-lettered"
        " (the object may have been copied before its copier stopped; a redrive settles it);"
        " see the copier logs for its errors"
    )
    # As each item says it (a deletion, a version, a restore), so a redrive does what it was.
    return [item.failure(DEAD_LETTERED, reason, attempts=deliveries) for item in batch.items]


def sweep_dead_letters(
    store: JobStore, sqs: SQSClient, dlq_url: str, work_queue_url: str, *, max_messages: int = 200
) -> int:
    """Count and remove up to ``max_messages`` dead-lettered batches; returns how many.

    A batch counted before it was dead-lettered (its copier died between counting it and
    sending the remainder it spawned) has its remainder sent to ``work_queue_url`` here."""
    swept = 0
    while swept < max_messages:
        with translated():
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            try:
                batch = WORK.validate_json(message.get("Body", ""))
            except ValidationError:
                # Not a batch of ours: left in the queue, where dlq_visible shows it.
                log.error("dead letter %s is not a work batch", message["MessageId"])
                continue
            if isinstance(batch, PartBatch):
                if not _part_swept(store, sqs, work_queue_url, dlq_url, batch, message):
                    continue
                with translated():
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                swept += 1
                continue
            if _parent_swept(store, sqs, work_queue_url, batch, message):
                with translated():
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                swept += 1
                continue
            record = store.batches.get(batch.job_id, batch.batch_id)
            if record is None:
                log.error(
                    "dead letter %s: batch %s was never defined",
                    message["MessageId"],
                    batch.batch_id,
                )
                continue
            if record.state is BatchState.DEFINED and record.digest == batch.digest:
                if record.claim_until > store.now():
                    # A copier is still on it: looked at again once its claim has run out.
                    _hide(sqs, dlq_url, message["ReceiptHandle"], record.claim_until - store.now())
                    continue
                failures = dead_letter_failures(batch, _deliveries(message))
                if store.batches.count(batch, BatchOutcome(failures=failures)):
                    log.warning("job %s: batch %s dead-lettered", batch.job_id, batch.batch_id)
                else:  # a late copier counted it meanwhile
                    record = store.batches.get(batch.job_id, batch.batch_id) or record
            if record.state is BatchState.COUNTED:
                remainder = store.batches.remainder_to_send(batch, record)
                if remainder is not None:
                    with translated():
                        sqs.send_message(QueueUrl=work_queue_url, MessageBody=remainder.body())
                    log.warning("job %s: remainder %s sent", batch.job_id, remainder.batch_id)
            with translated():
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            swept += 1
    return swept


def _part_swept(
    store: JobStore,
    sqs: SQSClient,
    work_queue_url: str,
    dlq_url: str,
    batch: PartBatch,
    message: Any,
) -> bool:
    """A dead part batch fails its object (unless every part is done): the sweep cannot reach
    the destination, so the part batch goes back to the copiers, who abort the upload (or
    complete it) and count the object once. False when it names no recorded upload."""
    record = store.uploads.get(batch.job_id, batch.parent)
    if record is None:
        log.error(
            "dead letter %s: part batch %s has no upload", message["MessageId"], batch.batch_id
        )
        return False
    held = store.uploads.part(batch.job_id, batch.batch_id)
    if held is not None and not held.done and held.claim_until > store.now():
        # A duplicate of a part batch a live copier holds: looked at again once the claim
        # has run out (the holder may well finish it meanwhile).
        _hide(sqs, dlq_url, message["ReceiptHandle"], held.claim_until - store.now())
        return False
    if record.state is UploadState.OPEN:
        _fail_and_send_back(store, sqs, work_queue_url, record, batch, "part batch", message)
    return True


def _parent_swept(
    store: JobStore, sqs: SQSClient, work_queue_url: str, batch: WorkBatch, message: Any
) -> bool:
    """A dead batch of a huge object whose upload is open: counting it failed here would end
    the job while the upload holds parts (and its part batches might still complete it). Its
    object fails on the upload instead, and the batch goes back to the copiers, who abort the
    upload and count the object once. False when it has no open upload (swept as any batch)."""
    record = store.uploads.get(batch.job_id, batch.batch_id)
    if record is None or record.state is not UploadState.OPEN:
        return False
    _fail_and_send_back(store, sqs, work_queue_url, record, batch, "batch", message)
    return True


def _fail_and_send_back(
    store: JobStore,
    sqs: SQSClient,
    work_queue_url: str,
    record: UploadRecord,
    batch: WorkBatch | PartBatch,
    what: str,
    message: Any,
) -> None:
    """Fail the open upload's object as dead-lettered, and send the dead message back to the
    copiers: they alone may reach the destination, to abort the upload and count the object."""
    deliveries = _deliveries(message)
    reason = (
        f"{what} {batch.batch_id} failed {deliveries} deliveries and was dead-lettered;"
        " see the copier logs for its errors"
    )
    store.uploads.fail(record, record.item.failure(DEAD_LETTERED, reason, attempts=deliveries))
    with translated():
        sqs.send_message(QueueUrl=work_queue_url, MessageBody=batch.body())
    log.warning("job %s: %s %s of an open upload dead-lettered", batch.job_id, what, batch.batch_id)


def _deliveries(message: Any) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))


def _hide(sqs: SQSClient, dlq_url: str, receipt_handle: str, seconds: float) -> None:
    with translated():
        sqs.change_message_visibility(
            QueueUrl=dlq_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(1, min(LATER_VISIBILITY_S, math.ceil(seconds))),
        )
