"""Redrive: send a job's failed objects back to work once their cause is fixed.

The redrive's batches are defined first (their ids follow the job's earlier redrives, and they
are packed with the default bounds whatever the settings, so two redrives of the same failures
define the same batches; a batch an earlier run of it defined, with whatever bounds, is kept as
it was, and only the objects such batches leave out are packed anew), then the job is reopened,
only if it is still the run the redrive read (two redrives never both reopen it), and the
batches are sent through the same path as the listing's. A redrive run again while its job is
redriving (one interrupted after reopening, or a second one started meanwhile) sends the
batches not counted yet once more: redrive is idempotent and resumable. A redrive that dies
after reopening leaves its job needing a coordinator (``JobRecord.redrive_sent``): the watchdog
sends it a resume, and the coordinator sends the batches (``send_again``). Each object a copier
now copies moves from failed to copied, so the counters stay exact. Dead letters must have been
swept first (``progress.deadletters``), which ``s3migrator redrive`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordinator.batching import batch_id, fixed_limits, pack
from coordinator.sending import send_batches
from s3migrator.errors import JobNotFoundError, S3MigratorError
from s3migrator.models import JobRecord, JobState, Phase
from s3migrator.sqs.queues import message_cap
from s3migrator.work import BatchRecord, BatchState, WorkItem

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
    if record.state is JobState.RUNNING and record.phase is Phase.REDRIVING:
        return send_again(store, sqs, work_queue_url, record, settings)
    if record.state is not JobState.COMPLETED_WITH_FAILURES:
        raise S3MigratorError(
            f"job {job_id} is {record.state.value}; only a job that completed with failures"
            " can be redriven"
        )
    failures = store.batches.failures(job_id)
    items = [
        WorkItem(
            key=f.key,
            size=f.size,
            etag=f.etag,
            storage_class=f.storage_class,
            delete=f.delete,
            version_id=f.version_id,
            restore=f.restore,
            marker=f.marker,
        )
        for f in failures
    ]
    if not items:
        raise S3MigratorError(f"job {job_id} has no failure records to redrive")
    epoch, first_seq = record.epoch + 1, record.counters.batches_extra
    # The default bounds, within what the work queue takes: the queue, not this process's
    # settings, is the same for every redrive of the job.
    bounds = fixed_limits()
    bounds["max_bytes"] = min(bounds["max_bytes"], message_cap(sqs, work_queue_url))
    # An earlier run of this redrive may have defined batches and died before reopening the
    # job, packed with other bounds (another version's): those ids are taken, so they are
    # this redrive's batches as defined, and what they leave out goes after them.
    earlier = defined_earlier(store, job_id, first_seq, epoch)
    taken = {_identity(item) for batch in earlier for item in batch.items or []}
    batches = [batch.carried(record.spec) for batch in earlier] + list(
        pack(
            [item for item in items if _identity(item) not in taken],
            record.spec,
            first_seq=first_seq + len(earlier),
            **bounds,
            redrive=True,
            epoch=epoch,
            # A key's failed versions stay together, in order (``failures`` keeps it per key).
            together=record.plan is not None and record.plan.versions == "all",
        )
    )
    # ``pack`` keeps its own within the cap; an earlier run's may have been packed for a larger
    # cap than the queue's now.
    kept = batches[: len(earlier)]
    too_big = [b.batch_id for b in kept if len(b.body().encode()) > bounds["max_bytes"]]
    if too_big:
        raise S3MigratorError(
            f"job {job_id}: redrive batches {too_big} exceed the work queue's message size"
            f" ({bounds['max_bytes']} bytes); raise it to redrive this job"
        )
    store.define_batches(batches)
    if not store.reopen(job_id, record.epoch, len(batches), record.counters.batches_done):
        # Another redrive reopened it first, with the same batches: send whatever is left.
        again = store.get_job(job_id)
        if again is None or again.phase is not Phase.REDRIVING:
            raise S3MigratorError(f"job {job_id} changed state meanwhile; try again")
        return send_again(store, sqs, work_queue_url, again, settings)
    send_batches(sqs, work_queue_url, batches, max_total_bytes=settings.message_max_bytes)
    store.redrive_sent(job_id, record.epoch + 1)
    return len(items)


def _identity(item: WorkItem) -> tuple[str, str | None, bool, bool]:
    return (item.key, item.version_id, item.delete, item.marker)


def defined_earlier(store: JobStore, job_id: str, first_seq: int, epoch: int) -> list[BatchRecord]:
    """The redrive batches an earlier run of this redrive defined, in order: the ids from
    ``first_seq`` on that are taken (a run defines them one after another, so they run on
    without a gap)."""
    found: list[BatchRecord] = []
    while (
        batch := store.batches.get(job_id, batch_id(job_id, first_seq + len(found), redrive=True))
    ) is not None:
        if not batch.redrive or batch.epoch != epoch or not batch.items:
            raise S3MigratorError(
                f"job {job_id}: batch {batch.batch_id} is not one of this redrive's; try again"
            )
        found.append(batch)
    return found


def send_again(
    store: JobStore, sqs: SQSClient, work_queue_url: str, record: JobRecord, settings: Settings
) -> int:
    """The running redrive's batches not counted yet, sent again as they were defined."""
    assert record.spec is not None
    batches = [
        b.carried(record.spec)
        for b in store.batches.of_job(record.job_id)
        if b.redrive and b.epoch == record.epoch and b.state is BatchState.DEFINED and b.items
    ]
    send_batches(sqs, work_queue_url, batches, max_total_bytes=settings.message_max_bytes)
    store.redrive_sent(record.job_id, record.epoch)
    return sum(len(b.items) for b in batches)
