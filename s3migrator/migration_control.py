"""What a user does to a migration from outside: cancel it at a safe point, or resume one that
stopped (at a gate, a deadline, a difference, or a cancel).

Both only write the job's record, conditionally, and ask a coordinator to look: the migration's
own runs do the rest, so a cancel or resume sent while a run works, or twice, changes nothing
twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.errors import UsageError
from s3migrator.migration_state import next_round
from s3migrator.models import JobRecord, JobState, Mode, Phase
from s3migrator.sqs.queues import send_resume

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore


def _migration(store: JobStore, job_id: str) -> JobRecord:
    record = store.get_job(job_id)
    if record is None or record.mode is not Mode.MIGRATE or record.migration is None:
        raise UsageError(f"no migration {job_id!r} (cancel and resume are a migration's)")
    return record


def cancel_migration(store: JobStore, sqs: SQSClient, jobs_queue_url: str, job_id: str) -> None:
    """Ask a running migration to stop at its next safe point: the end of the step it is in
    (the source's deletion, once begun, goes on to its end first)."""
    record = _migration(store, job_id)
    if record.cancel_requested and record.state is JobState.RUNNING:
        return
    if not store.migrations.request_cancel(job_id):
        record = _migration(store, job_id)
        raise UsageError(f"migration {job_id} is {record.state.value}, not running")
    # A run that holds the job sees the cancel at its step's end; one now, for a waiting job.
    send_resume(sqs, jobs_queue_url, job_id, delay_s=0)


def resume_migration(
    store: JobStore,
    sqs: SQSClient,
    jobs_queue_url: str,
    job_id: str,
    *,
    confirm_delete_source: bool = False,
    name_wait_h: float | None = None,
) -> Phase:
    """Take a stopped migration up again where it stopped; returns that phase."""
    record = _migration(store, job_id)
    state = record.migration
    assert state is not None
    if record.state is not JobState.FAILED or state.stopped_at is None:
        raise UsageError(
            f"migration {job_id} is {record.state.value}: only a stopped one can be resumed"
        )
    phase = Phase(state.stopped_at)
    update: dict[str, object] = {"stopped_at": None}
    if confirm_delete_source:
        update["confirm_delete_source"] = True
    if name_wait_h is not None:
        update["name_wait_h"] = name_wait_h
    if phase is Phase.WAITING_FOR_NAME:
        wait_h = name_wait_h if name_wait_h is not None else state.name_wait_h
        update |= {"name_deadline": store.now() + wait_h * 3600, "name_attempts": 0}
    if phase is Phase.TEMPORARY_READY and state.catch_up:
        # A new round under a new id: the last one's job is done and keeps its counts.
        update["first_job"] = next_round(state.first_job)
    if not store.migrations.reopen(job_id, record.epoch, phase, state.model_copy(update=update)):
        raise UsageError(f"migration {job_id} changed meanwhile (resumed by another?)")
    send_resume(sqs, jobs_queue_url, job_id, delay_s=0)
    return phase
