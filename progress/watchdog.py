"""The watchdog: no job stays running without a coordinator on it or a resume on its way.

A job that still needs a coordinator (its destination is not ready or its listing not done)
whose run died leaves a lease that runs out. The scheduled progress run then claims the job
(once, whatever else runs at the same time) and sends a resume message; a job resumed this way
too often without its listing moving fails with its last error instead of looping for ever.

A finished job's completion report is due until a coordinator has written it: the progress run
sends a report message when it falls due, and again each ``resume_grace_s`` while it stays due
(a coordinator that died writing it, a message that went astray).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from s3migrator.models import JobRecord, JobState
from s3migrator.sqs.queues import send_report, send_resume

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.settings import Settings

log = logging.getLogger(__name__)


def is_stalled(record: JobRecord, now: float, grace_s: float) -> bool:
    """Needs a coordinator, has none (the lease ran out), and no resume is due any more."""
    needs = record.needs_coordinator
    resume_pending = record.resume_due is not None and record.resume_due + grace_s > now
    return needs and record.lease_until < now and not resume_pending


def resume_stalled(
    store: JobStore, sqs: SQSClient, jobs_queue_url: str, record: JobRecord, settings: Settings
) -> bool:
    """Send a stalled job a resume message (or fail it after too many); True if one was sent."""
    now = store.now()
    if not is_stalled(record, now, settings.resume_grace_s):
        return False
    if record.resumes >= settings.max_resumes:
        reason = f"no coordinator got on with the job after {record.resumes} resumes" + (
            f"; last error: {record.last_error}" if record.last_error else ""
        )
        # Only the run it read, and only while no coordinator has come back to it.
        failed = store.finish(
            record.job_id,
            JobState.FAILED,
            record.percent,
            error=reason,
            epoch=record.epoch,
            unleased=True,
        )
        if failed:
            log.error("job %s failed: %s", record.job_id, reason)
        return False
    if not store.claim_stalled(record.job_id, record.resume_due, due=now):
        return False  # another progress run got there first
    send_resume(sqs, jobs_queue_url, record.job_id, delay_s=0)
    log.warning("job %s had no coordinator; resume sent", record.job_id)
    return True


def send_due_report(
    store: JobStore, sqs: SQSClient, jobs_queue_url: str, record: JobRecord, settings: Settings
) -> bool:
    """Send a report message for a finished job whose report is due; True if one was sent."""
    now = store.now()
    due = record.report_due
    if record.state is JobState.RUNNING or due is None or due > now:
        return False
    if not store.claim_report(record.job_id, due, now + settings.resume_grace_s):
        return False  # another progress run got there first, or it was written meanwhile
    send_report(sqs, jobs_queue_url, record.job_id)
    return True
