"""The scheduled progress run: sweep dead letters, resume stalled jobs, finish jobs whose work
is done, store each job's percent, send the report messages that are due.

The progress Lambda runs ``refresh`` every minute (``s3migrator progress`` runs it by hand), so
jobs finish whether anyone looks or not; looking (``status.statuses``) only reads. A run reads
only the jobs it has work for (``JobStore.jobs_to_refresh``): the running ones and the finished
ones whose report is due; a finished job is kept for its retention, and reading its counters
every run would change nothing. Each job is handled on its own: one job's error is logged and
never stops the run for the others. Reports are written by a coordinator after the job has
finished (``coordinator/completion_report.py``), never in this run, which serves every running
job and the scaling metrics.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from progress.deadletters import sweep_dead_letters
from progress.status import current_percent, read_depths, to_status
from progress.watchdog import resume_stalled, send_due_report
from s3migrator.aws_errors import translate
from s3migrator.job_status import JobStatus
from s3migrator.models import JobRecord, JobState
from s3migrator.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.resources import Resources

log = logging.getLogger(__name__)


def final_state(record: JobRecord) -> tuple[JobState, str | None] | None:
    """The state a running job should end in now, or None while work remains.

    A job is done when its listing is complete and every batch it sent has been counted; the
    object counts then match the listing, and any mismatch is reported rather than hidden.
    """
    listing, counters = record.listing, record.counters
    if not record.phase.copies:
        return None
    expected = listing.next_seq + counters.batches_extra + counters.batches_spawned
    if not (listing.complete and counters.batches_done >= expected):
        return None
    done = counters.done
    if done != listing.objects:
        return (
            JobState.COMPLETED_WITH_FAILURES,
            f"counted {done} objects but listed {listing.objects}",
        )
    if counters.objects_failed:
        return JobState.COMPLETED_WITH_FAILURES, None
    return JobState.SUCCEEDED, None


def advance(store: JobStore, record: JobRecord) -> JobRecord:
    """Store a running job's percent, and finish it when its work is done (its completion
    report, if it names a location, then becomes due)."""
    if record.state is not JobState.RUNNING:
        return record
    ending = final_state(record)
    if ending is not None:
        state, error = ending
        report = record.report is not None
        if store.finish(record.job_id, state, 100, error=error, epoch=record.epoch, report=report):
            log.info("job %s finished: %s", record.job_id, state.value)
        return store.get_job(record.job_id) or record
    value = current_percent(record)
    if value > record.percent and store.set_percent(record.job_id, value, record.epoch):
        record.percent = value
    return record


def refresh(
    store: JobStore,
    sqs: SQSClient,
    resources: Resources,
    job_id: str | None = None,
    settings: Settings | None = None,
    *,
    ended_within_s: float | None = None,
) -> list[JobStatus]:
    """Sweep dead letters, then resume, advance and send the report of one job (by id, whatever
    its state) or of every job that needs it (running, or its report due), and return their
    statuses; with ``ended_within_s``, also those of the jobs that ended within that many
    seconds (the progress function counts the jobs that ended with failures). The statuses
    carry no failure samples: this run serves every running job each minute, and reading a
    job's failures reads all its batch records."""
    settings = settings or Settings()
    try:
        sweep_dead_letters(store, sqs, resources.work_dlq_url, resources.work_queue_url)
    except Exception:
        log.exception("the dead-letter sweep failed; it runs again next time")
    if job_id is not None:
        ids = [job_id]
    else:
        since = None if ended_within_s is None else store.now() - ended_within_s
        ids = store.jobs_to_refresh(ended_since=since)
    if not ids:
        return []
    depths = read_depths(sqs, resources)
    statuses = []
    for id_ in ids:
        record = _read(store, id_)
        if record is not None:
            statuses.append(to_status(_handle(store, sqs, resources, record, settings), depths))
    return statuses


def _read(store: JobStore, job_id: str) -> JobRecord | None:
    """The job as it stands; None, logged, when it cannot be read now (it is read again next
    run): one job's reads failing never stops the run for the others."""
    try:
        return store.get_job(job_id)
    except Exception as exc:
        log.error("job %s: the progress run could not read it: %s", job_id, translate(exc))
        return None


def _handle(
    store: JobStore,
    sqs: SQSClient,
    resources: Resources,
    record: JobRecord,
    settings: Settings,
) -> JobRecord:
    """One job's turn in the run; an error is the job's alone."""
    try:
        resume_stalled(store, sqs, resources.jobs_queue_url, record, settings)
        record = advance(store, record)
        send_due_report(store, sqs, resources.jobs_queue_url, record, settings)
        return record
    except Exception as exc:
        log.error("job %s: the progress run could not handle it: %s", record.job_id, translate(exc))
        return record
