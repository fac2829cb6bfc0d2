"""The progress run: sweep dead letters, finish jobs whose work is done, report every job.

The progress Lambda runs ``refresh`` every minute; ``s3migrator status`` runs the same code.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from progress.deadletters import sweep_dead_letters
from progress.failures_csv import upload_report
from progress.status import current_percent, read_depths, to_status
from progress.watchdog import resume_stalled
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.models import JobRecord, JobState, JobStatus, Phase
from s3migrator.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
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
    if record.phase is not Phase.COPYING:
        return None
    if not (
        listing.complete and counters.batches_done >= listing.next_seq + counters.batches_extra
    ):
        return None
    done = counters.objects_copied + counters.objects_failed
    if done != listing.objects:
        return (
            JobState.COMPLETED_WITH_FAILURES,
            f"counted {done} objects but listed {listing.objects}",
        )
    if counters.objects_failed:
        return JobState.COMPLETED_WITH_FAILURES, None
    return JobState.SUCCEEDED, None


def advance(store: JobStore, record: JobRecord, s3: S3Client | None = None) -> JobRecord:
    """Store a running job's percent, and finish it when its work is done.

    A job that names a report location gets its completion report written first.
    """
    if record.state is not JobState.RUNNING:
        return record
    ending = final_state(record)
    if ending is not None:
        state, error = ending
        if record.report is not None and s3 is not None:
            try:
                url = upload_report(s3, record, store.failures.of_job(record.job_id))
                log.info("job %s: report written to %s", record.job_id, url)
            except PROVIDER_ERRORS as exc:
                reason = translate(exc)
                error = f"{error + '; ' if error else ''}report not written: {reason}"
        if store.finish(record.job_id, state, 100, error=error):
            log.info("job %s finished: %s", record.job_id, state.value)
        return store.get_job(record.job_id) or record
    value = current_percent(record)
    if value != record.percent and store.set_percent(record.job_id, value):
        record.percent = value
    return record


def refresh(
    store: JobStore,
    sqs: SQSClient,
    resources: Resources,
    job_id: str | None = None,
    s3: S3Client | None = None,
    settings: Settings | None = None,
) -> list[JobStatus]:
    """Sweep dead letters, resume stalled jobs, then advance and report one job or every job."""
    settings = settings or Settings()
    sweep_dead_letters(store, sqs, resources.work_dlq_url)
    if job_id is not None:
        one = store.get_job(job_id)
        records = [one] if one else []
    else:
        records = store.list_jobs()
    for record in records:
        resume_stalled(store, sqs, resources.jobs_queue_url, record, settings)
    depths = read_depths(sqs, resources)
    return [to_status(advance(store, record, s3), depths, store) for record in records]
