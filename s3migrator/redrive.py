"""``s3migrator redrive``: send a job's failed and dead-lettered objects back to work.

The job is reopened first (only a job that completed with failures, so two redrives cannot
overlap), with the number of batches it now waits for; then the batches are sent, marked as
redrive batches: each object a copier now copies moves from failed to copied, so the counters
stay exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordinator.batching import MAX_ENTRIES_PER_SEND, group_for_send, pack
from progress.deadletters import sweep_dead_letters
from s3migrator.errors import S3MigratorError
from s3migrator.models import JobState, WorkItem
from s3migrator.queues import send_bodies

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.resources import Resources
    from s3migrator.settings import Settings


def redrive(
    store: JobStore, sqs: SQSClient, resources: Resources, job_id: str, settings: Settings
) -> int:
    """Send every failed object of the job back to the work queue; returns how many."""
    sweep_dead_letters(store, sqs, resources.work_dlq_url)
    record = store.get_job(job_id)
    if record is None:
        raise S3MigratorError(f"no job {job_id!r}")
    if record.spec is None:
        raise S3MigratorError(f"job {job_id} was rejected: {record.error}")
    if record.state is not JobState.COMPLETED_WITH_FAILURES:
        raise S3MigratorError(
            f"job {job_id} is {record.state.value}; only a job that completed with failures"
            " can be redriven"
        )
    items = [WorkItem(key=f.key, size=f.size, etag=f.etag) for f in store.failures(job_id)]
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
    bodies = [batch.model_dump_json() for batch in batches]
    for group in group_for_send(
        bodies, max_total_bytes=settings.message_max_bytes, max_entries=MAX_ENTRIES_PER_SEND
    ):
        send_bodies(sqs, resources.work_queue_url, group)
    return len(items)
