"""Redrive: send a job's failed objects back to work once their cause is fixed.

The job is reopened first (only a job that completed with failures, so two redrives cannot
overlap), with the number of batches it now waits for; then the batches are sent, through the
same path as the listing's, marked as redrive batches: each object a copier now copies moves from
failed to copied, so the counters stay exact. Dead letters must have been swept into failure
records first (``progress.deadletters``), which ``s3migrator redrive`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordinator.batching import pack
from coordinator.sending import send_batches
from s3migrator.errors import JobNotFoundError, S3MigratorError
from s3migrator.models import JobState, WorkItem

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.settings import Settings


def redrive(
    store: JobStore, sqs: SQSClient, work_queue_url: str, job_id: str, settings: Settings
) -> int:
    """Send every failed object of the job back to the work queue; returns how many."""
    record = store.get_job(job_id)
    if record is None:
        raise JobNotFoundError(job_id)
    if record.spec is None:
        raise S3MigratorError(f"job {job_id} was rejected: {record.error}")
    if record.state is not JobState.COMPLETED_WITH_FAILURES:
        raise S3MigratorError(
            f"job {job_id} is {record.state.value}; only a job that completed with failures"
            " can be redriven"
        )
    items = [WorkItem(key=f.key, size=f.size, etag=f.etag) for f in store.failures.of_job(job_id)]
    if not items:
        raise S3MigratorError(f"job {job_id} has no failure records to redrive")
    batches = list(
        pack(
            items,
            record.spec,
            first_seq=record.counters.batches_extra,
            max_keys=settings.batch_max_keys,
            max_bytes=settings.message_max_bytes,
            redrive=True,
        )
    )
    if not store.reopen(job_id, len(batches)):
        raise S3MigratorError(f"job {job_id} changed state meanwhile; try again")
    send_batches(sqs, work_queue_url, batches, max_total_bytes=settings.message_max_bytes)
    return len(items)
