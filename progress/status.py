"""What a job's status says: its record and the queue depths into percent and a status row.

Looking is a pure read: ``statuses`` and ``status_page`` write nothing (no sweep, no finishing,
no percent stored); the scheduled progress run (``refresh``) does those, whether anyone looks
or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from s3migrator.errors import UsageError
from s3migrator.job_status import JobStatus, MigrationView, QueueDepths
from s3migrator.models import JobRecord, JobState, Mode, Phase
from s3migrator.percent import MIGRATE_TABLE, percent
from s3migrator.sqs.queues import queue_depth

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.resources import Resources

FIRST_FAILURES = 5
# Jobs in one page of the status API: each costs a read of the job and its counter shards, so
# a page stays well within the function's time whatever the number of jobs.
DEFAULT_PAGE_JOBS = 50
MAX_PAGE_JOBS = 200


class JobsPage(BaseModel):
    """A page of the status API's ``GET /jobs``: statuses oldest first, and the token that
    asks for the next page (``?next=TOKEN``), null on the last."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: list[JobStatus]
    next: str | None


def page_size(limit: str | None) -> int:
    """The jobs a page holds for ``?limit=`` (absent: the default); UsageError unless it is a
    whole number from 1 to MAX_PAGE_JOBS.

    >>> page_size(None), page_size("7")
    (50, 7)
    """
    if limit is None:
        return DEFAULT_PAGE_JOBS
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_PAGE_JOBS):
        raise UsageError(f"limit: a whole number from 1 to {MAX_PAGE_JOBS}, not {limit!r}")
    return int(limit)


def read_depths(sqs: SQSClient, resources: Resources) -> QueueDepths:
    visible, in_flight = queue_depth(sqs, resources.work_queue_url)
    dlq_visible, _ = queue_depth(sqs, resources.work_dlq_url)
    return QueueDepths(queue_visible=visible, queue_in_flight=in_flight, dlq_visible=dlq_visible)


def current_percent(record: JobRecord) -> int:
    """The job's percent: never lower than what was last shown for its phase (the total
    grows while the listing runs), and a redrive's counts its own batches from 6."""
    if record.state is not JobState.RUNNING:
        return 100 if record.state is not JobState.FAILED else record.percent
    counters = record.counters
    if record.phase is Phase.REDRIVING:
        expected = record.listing.next_seq + counters.batches_extra + counters.batches_spawned
        computed = percent(
            record.phase,
            done=counters.batches_done - record.redrive_base,
            total=expected - record.redrive_base,
            enumeration_complete=True,
        )
    elif record.mode is Mode.MIGRATE:
        # Its copy steps' progress is its coordinator's to set (from the copy jobs').
        computed = percent(
            record.phase, done=0, total=0, enumeration_complete=False, table=MIGRATE_TABLE
        )
    else:
        computed = percent(
            record.phase,
            done=counters.done,
            total=record.listing.objects,
            enumeration_complete=record.listing.complete,
        )
    return max(record.percent, computed)


_BACK = (Phase.DESTINATION_CREATED, Phase.COPYING_BACK, Phase.REMOVING_TEMPORARY, Phase.FINISHED)


def migration_view(record: JobRecord) -> MigrationView | None:
    """A migration's own figures: the copy step it follows now (or followed last)."""
    state = record.migration
    if state is None:
        return None
    return MigrationView(
        temporary=state.temporary.url,
        copy_step=state.second_job if record.phase in _BACK else state.first_job,
        name_attempts=state.name_attempts,
        last_name_error=state.last_name_error,
        name_deadline=state.name_deadline,
        stopped_at=state.stopped_at,
        cancel_requested=record.cancel_requested,
        notes=state.notes,
    )


def to_status(record: JobRecord, depths: QueueDepths, store: JobStore | None = None) -> JobStatus:
    """The job's status row; with ``store``, its first failures too."""
    failures = (
        store.batches.failures(record.job_id)[:FIRST_FAILURES]
        if store is not None and record.counters.objects_failed
        else []
    )
    return JobStatus(
        job_id=record.job_id,
        mode=record.mode,
        state=record.state,
        phase=record.phase,
        percent=current_percent(record),
        source=record.spec.source.url if record.spec else "",
        destination=record.spec.destination.url if record.spec else "",
        objects_total=record.listing.objects,
        objects_copied=record.counters.objects_copied,
        objects_failed=record.counters.objects_failed,
        objects_deleted=record.counters.objects_deleted,
        objects_verified=record.counters.objects_verified,
        skipped=record.listing.tally,
        bytes_total=record.listing.bytes,
        bytes_copied=record.counters.bytes_copied,
        enumeration_complete=record.listing.complete,
        error=record.error,
        first_failures=failures,
        created_at=record.created_at,
        finished_at=record.finished_at,
        report=record.report_url or ("pending" if record.report_due is not None else None),
        sender=record.sender,
        migration=migration_view(record),
        **depths.model_dump(),
    )


def statuses(
    store: JobStore, sqs: SQSClient, resources: Resources, job_id: str | None = None
) -> list[JobStatus]:
    """One job's status (by id) or every job's, as they stand; reads only."""
    if job_id is not None:
        one = store.get_job(job_id)
        records = [one] if one else []
    else:
        records = store.list_jobs()
    depths = read_depths(sqs, resources)
    return [to_status(record, depths, store) for record in records]


def status_page(
    store: JobStore, sqs: SQSClient, resources: Resources, limit: int, after: str | None = None
) -> JobsPage:
    """Up to ``limit`` jobs' statuses, oldest first, after the place the token ``after`` names
    (UsageError for a string that is no token of ours); reads only."""
    page = store.job_page(limit, after)
    # A job the index still lists may have expired since: it is left out, as if gone.
    records = [record for job_id in page.job_ids if (record := store.get_job(job_id))]
    depths = read_depths(sqs, resources)
    return JobsPage(jobs=[to_status(record, depths, store) for record in records], next=page.next)
