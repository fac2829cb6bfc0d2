"""Dead letters into failure records, so a job never hangs at 99% on a poisoned batch.

A work batch that kept failing is moved by SQS's redrive policy to the work dead-letter queue.
The sweep turns each such batch into per-object failure records (code ``DeadLettered``) and
counts the batch once, exactly as a copier would have; ``s3migrator redrive`` sends the objects
back to work once the cause is fixed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from s3migrator.models import FailureRecord, WorkBatch

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore

log = logging.getLogger(__name__)
DEAD_LETTERED = "DeadLettered"


def dead_letter_failures(batch: WorkBatch, deliveries: int) -> list[FailureRecord]:
    reason = (
        f"batch {batch.batch_id} failed {deliveries} deliveries and was dead-lettered;"
        " see the copier logs for its errors"
    )
    return [
        FailureRecord(
            key=item.key,
            code=DEAD_LETTERED,
            message=reason,
            attempts=deliveries,
            size=item.size,
            etag=item.etag,
        )
        for item in batch.items
    ]


def sweep_dead_letters(
    store: JobStore, sqs: SQSClient, dlq_url: str, *, max_messages: int = 200
) -> int:
    """Record and remove up to ``max_messages`` dead-lettered batches; returns how many."""
    swept = 0
    while swept < max_messages:
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
                batch = WorkBatch.model_validate_json(message.get("Body", ""))
            except ValidationError:
                # Not a batch of ours: left in the queue, where dlq_visible shows it.
                log.error("dead letter %s is not a work batch", message["MessageId"])
                continue
            job_id = batch.spec.job_id
            if not store.is_counted(job_id, batch.batch_id):
                deliveries = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))
                failures = dead_letter_failures(batch, deliveries)
                store.failures.put(job_id, failures)
                store.count_batch(
                    job_id,
                    batch.batch_id,
                    copied=0,
                    # A redrive batch's objects are already counted failed.
                    failed=0 if batch.redrive else len(failures),
                    bytes_copied=0,
                )
                log.warning("job %s: batch %s dead-lettered", job_id, batch.batch_id)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            swept += 1
    return swept
