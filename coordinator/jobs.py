"""Running one job: record it, take its lease, prepare the destination, list the source.

A job message is only a request: once the job is recorded and a run holds its lease, the
message is let go, and everything the job needs lives in DynamoDB. A run's lease carries a token
of its own, so no other run (in this process or another) can act on it, and one process never
runs the same job twice at once. A run that stops, or fails, before the listing ends schedules a
resume message; one that dies leaves a lease that runs out, and the progress function schedules
the resume (``progress/watchdog.py``). The listing resumes after the last checkpointed key with
the same batch numbering, so batches sent again carry the ids they had.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from coordinator.batching import pack
from coordinator.buckets import ensure_bucket
from coordinator.listing import list_source
from coordinator.preflight import as_text, passed, run_checks
from coordinator.sending import send_batches
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.backoff import backoff_s
from s3migrator.errors import InvalidJobError, LeaseLostError, OperationError
from s3migrator.models import CopySpec, JobMessage, JobRecord, JobState, Phase, WorkBatch
from s3migrator.sqs.queues import MAX_ENTRIES_PER_SEND, send_resume

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.sessions import S3Clients
    from s3migrator.settings import Settings

log = logging.getLogger(__name__)


class RunEnd(StrEnum):
    """How one run of a job ended."""

    LISTED = "listed"  # the listing is complete: nothing left for a coordinator
    STOPPED = "stopped"  # asked to stop: lease released, a resume scheduled at once
    RETRYING = "retrying"  # an error: lease released, a resume scheduled after a backoff
    LOST = "lost"  # another run took the lease over (this one stalled past it)
    FAILED = "failed"  # the job cannot run (preflight, bucket, too many retries)
    GONE = "gone"  # the job ended meanwhile


@dataclass(frozen=True)
class Run:
    """A job taken for one run: its record as read, and the run's own lease token."""

    record: JobRecord
    token: str

    @property
    def job_id(self) -> str:
        return self.record.job_id


def needs_a_coordinator(record: JobRecord) -> bool:
    """A running job whose destination is not ready or whose listing is not complete."""
    return (
        record.state is JobState.RUNNING
        and record.spec is not None
        and not (record.phase is Phase.COPYING and record.listing.complete)
    )


@dataclass
class JobRunner:
    store: JobStore
    clients: S3Clients
    sqs: SQSClient
    work_queue_url: str
    jobs_queue_url: str
    settings: Settings
    region: str
    stop: threading.Event = field(default_factory=threading.Event)
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _running: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reject(self, job_id: str, reason: str) -> bool:
        """Record a message that names a job id but is no valid job: a failed job with a reason.

        Returns False when that id already belongs to a job, which is left untouched.
        """
        now = self.store.now()
        return self.store.create_job(
            JobRecord(
                job_id=job_id,
                mode=None,
                spec=None,
                state=JobState.FAILED,
                error=reason,
                created_at=now,
                updated_at=now,
                finished_at=now,
            )
        )

    def take(self, job_id: str, message: JobMessage | None = None) -> Run | None:
        """Record the job (from its message, the first time) and take its lease for one run.

        None when there is nothing for a coordinator to do, or when another run holds the job
        (in another process, or in this one: a duplicate delivery), which then carries on.
        """
        if message is not None:
            self.store.create_job(self._new_record(job_id, message))
        record = self.store.get_job(job_id)
        if record is None or not needs_a_coordinator(record):
            log.info("job %s needs no coordinator; dropping its message", job_id)
            return None
        with self._lock:
            if job_id in self._running:
                log.info("job %s is already being run here; dropping the duplicate", job_id)
                return None
            token = f"{self.owner}-{uuid.uuid4().hex[:12]}"
            if not self.store.acquire_lease(job_id, token, self.settings.lease_s):
                log.info("job %s is held by another coordinator; it carries on", job_id)
                return None
            self._running.add(job_id)
        return Run(record, token)

    def work(self, run: Run) -> RunEnd:
        """Take the job as far as it goes: destination, listing; never raises."""
        try:
            return self._work(run)
        except InvalidJobError as exc:
            log.warning("job %s failed: %s", run.job_id, exc)
            self.store.finish(run.job_id, JobState.FAILED, run.record.percent, error=str(exc))
            return RunEnd.FAILED
        except LeaseLostError as exc:
            log.warning("%s; leaving the job to it", exc)
            return RunEnd.LOST
        except Exception as exc:
            error = translate(exc)
            if isinstance(exc, (OperationError, *PROVIDER_ERRORS)):
                log.warning("job %s: %s; it resumes later", run.job_id, error)
            else:
                log.exception("job %s failed unexpectedly; it resumes later", run.job_id)
            return self._resume_later(run, str(error))
        finally:
            with self._lock:
                self._running.discard(run.job_id)

    def run(self, message: JobMessage) -> RunEnd | None:
        """``take`` then ``work`` for a message naming its job id; None when not taken."""
        if message.job_id is None:
            raise ValueError("run() needs a message with a job id")
        taken = self.take(message.job_id, message)
        return self.work(taken) if taken is not None else None

    def _new_record(self, job_id: str, job: JobMessage) -> JobRecord:
        now = self.store.now()
        return JobRecord(
            job_id=job_id,
            mode=job.mode,
            spec=CopySpec(
                job_id=job_id, source=job.source, destination=job.destination, options=job.options
            ),
            report=job.report,
            created_at=now,
            updated_at=now,
        )

    def _resume_later(self, run: Run, error: str) -> RunEnd:
        """After an error: give the lease up and send a resume after a backoff, or fail the
        job once it has been tried too often without its listing moving."""
        resumes = self.store.schedule_resume(run.job_id, self.store.now(), error)
        delay = backoff_s(max(1, resumes), cap_s=900)
        self.store.release_lease(run.job_id, run.token)
        if resumes > self.settings.max_resumes:
            reason = f"the coordinator could not get on with the job {resumes} times: {error}"
            self.store.finish(run.job_id, JobState.FAILED, run.record.percent, error=reason)
            return RunEnd.FAILED
        send_resume(self.sqs, self.jobs_queue_url, run.job_id, delay_s=delay)
        return RunEnd.RETRYING

    def _stop(self, run: Run) -> RunEnd:
        """Asked to stop: another coordinator takes the job up at once from the checkpoint."""
        self.store.schedule_resume(run.job_id, self.store.now())
        self.store.release_lease(run.job_id, run.token)
        send_resume(self.sqs, self.jobs_queue_url, run.job_id, delay_s=0)
        return RunEnd.STOPPED

    def _work(self, run: Run) -> RunEnd:
        record, spec = run.record, run.record.spec
        assert spec is not None
        if record.phase is Phase.STARTED:
            checks = run_checks(self.clients, spec)
            if not passed(checks):
                raise InvalidJobError("preflight failed:\n" + as_text(checks))
            self.store.renew_lease(run.job_id, run.token, self.settings.lease_s)
            region = spec.destination.region or self.region
            created = ensure_bucket(
                self.clients.for_location(spec.destination), spec.destination.bucket, region
            )
            log.info(
                "job %s: destination %s %s",
                run.job_id,
                spec.destination.bucket,
                "created" if created else "exists",
            )
            if not self.store.set_phase(run.job_id, Phase.DESTINATION_READY):
                return RunEnd.GONE
            record.phase = Phase.DESTINATION_READY
        if record.phase is Phase.DESTINATION_READY:
            if not self.store.set_phase(run.job_id, Phase.COPYING):
                return RunEnd.GONE
            record.phase = Phase.COPYING
        return self._enumerate(run, spec)

    def _enumerate(self, run: Run, spec: CopySpec) -> RunEnd:
        checkpoint = run.record.listing.model_copy()
        if checkpoint.complete:
            return RunEnd.LISTED
        batches = pack(
            list_source(
                self.clients.for_location(spec.source), spec.source, checkpoint.start_after
            ),
            spec,
            first_seq=checkpoint.next_seq,
            max_keys=self.settings.batch_max_keys,
            max_bytes=self.settings.message_max_bytes,
        )
        pending: list[WorkBatch] = []

        def save() -> None:
            self.store.save_checkpoint(
                run.job_id, run.token, checkpoint, self.settings.lease_s, seq=saved_seq[0]
            )
            saved_seq[0] = checkpoint.next_seq

        saved_seq = [checkpoint.next_seq]

        def flush() -> None:
            send_batches(
                self.sqs,
                self.work_queue_url,
                pending,
                max_total_bytes=self.settings.message_max_bytes,
            )
            for batch in pending:
                checkpoint.objects += len(batch.items)
                checkpoint.bytes += sum(item.size for item in batch.items)
                checkpoint.next_seq += 1
                checkpoint.start_after = batch.items[-1].key
            pending.clear()
            save()

        for batch in batches:
            pending.append(batch)
            if len(pending) >= MAX_ENTRIES_PER_SEND:
                flush()
                if self.stop.is_set():
                    return self._stop(run)
        if pending:
            flush()
        checkpoint.complete = True
        save()
        log.info(
            "job %s: listed %d objects (%d bytes) in %d batches",
            run.job_id,
            checkpoint.objects,
            checkpoint.bytes,
            checkpoint.next_seq,
        )
        return RunEnd.LISTED
