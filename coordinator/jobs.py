"""Running one job: records it, prepares the destination, lists the source into batches.

Everything a restart needs lives in DynamoDB: the listing resumes after the last checkpointed
key, with the same batch numbering, so batches re-sent after a crash carry the ids they had and
are counted once by the copiers.
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
from s3migrator.errors import InvalidJobError, LeaseLostError
from s3migrator.models import CopySpec, JobMessage, JobRecord, JobState, Phase, WorkBatch
from s3migrator.sqs.queues import MAX_ENTRIES_PER_SEND

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.jobstore import JobStore
    from s3migrator.sessions import S3Clients
    from s3migrator.settings import Settings

log = logging.getLogger(__name__)


class MessageFate(StrEnum):
    """What the coordinator does with a job message once the job has been handled."""

    DONE = "done"  # delete the message: the job is listed, finished, or a duplicate
    LATER = "later"  # leave it: another coordinator holds the lease, or we are stopping


@dataclass
class JobRunner:
    store: JobStore
    clients: S3Clients
    sqs: SQSClient
    work_queue_url: str
    settings: Settings
    region: str
    stop: threading.Event = field(default_factory=threading.Event)
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

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

    def run(self, message: JobMessage) -> tuple[MessageFate, float]:
        """Handle one job; returns the outcome and, for LATER, seconds until a retry helps."""
        job = message.with_id()
        assert job.job_id is not None
        now = self.store.now()
        record = JobRecord(
            job_id=job.job_id,
            mode=job.mode,
            spec=CopySpec(
                job_id=job.job_id,
                source=job.source,
                destination=job.destination,
                options=job.options,
            ),
            report=job.report,
            created_at=now,
            updated_at=now,
        )
        if not self.store.create_job(record):
            existing = self.store.get_job(job.job_id)
            if (
                existing is None
                or existing.spec is None
                or existing.state.is_final
                or existing.listing.complete
            ):
                log.info("job %s already listed; dropping duplicate message", job.job_id)
                return MessageFate.DONE, 0.0
            record = existing
        if not self.store.acquire_lease(record.job_id, self.owner, self.settings.lease_s):
            wait = self._lease_left_s(record.job_id)
            log.info("job %s is held by another coordinator; retry in %.0fs", record.job_id, wait)
            return MessageFate.LATER, wait
        assert record.spec is not None
        try:
            return self._run_leased(record, record.spec)
        except InvalidJobError as exc:
            log.warning("job %s failed: %s", record.job_id, exc)
            self.store.finish(record.job_id, JobState.FAILED, record.percent, error=str(exc))
            return MessageFate.DONE, 0.0
        except LeaseLostError as exc:
            # Our lease ran out (a stall longer than the lease) and another coordinator took
            # the job over from the checkpoint; the message waits until that lease ends.
            wait = self._lease_left_s(record.job_id)
            log.warning("%s; leaving the job to it, retry in %.0fs", exc, wait)
            return MessageFate.LATER, wait

    def _lease_left_s(self, job_id: str) -> float:
        return max(1.0, self.store.lease_until(job_id) - self.store.now())

    def _run_leased(self, record: JobRecord, spec: CopySpec) -> tuple[MessageFate, float]:
        if record.phase is Phase.STARTED:
            checks = run_checks(self.clients, spec)
            if not passed(checks):
                raise InvalidJobError("preflight failed:\n" + as_text(checks))
            region = spec.destination.region or self.region
            created = ensure_bucket(
                self.clients.for_location(spec.destination), spec.destination.bucket, region
            )
            log.info(
                "job %s: destination %s %s",
                record.job_id,
                spec.destination.bucket,
                "created" if created else "exists",
            )
            if not self.store.set_phase(record.job_id, Phase.DESTINATION_READY):
                return self._no_longer_running(record)
            record.phase = Phase.DESTINATION_READY
        if record.phase is Phase.DESTINATION_READY and not self.store.set_phase(
            record.job_id, Phase.COPYING
        ):
            return self._no_longer_running(record)
        return self._enumerate(record, spec)

    def _no_longer_running(self, record: JobRecord) -> tuple[MessageFate, float]:
        log.info("job %s is no longer running; dropping its message", record.job_id)
        return MessageFate.DONE, 0.0

    def _enumerate(self, record: JobRecord, spec: CopySpec) -> tuple[MessageFate, float]:
        checkpoint = record.listing.model_copy()
        if checkpoint.complete:
            return MessageFate.DONE, 0.0
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
            self.store.save_checkpoint(record.job_id, self.owner, checkpoint, self.settings.lease_s)

        for batch in batches:
            pending.append(batch)
            if len(pending) >= MAX_ENTRIES_PER_SEND:
                flush()
                if self.stop.is_set():
                    self.store.release_lease(record.job_id, self.owner)
                    return MessageFate.LATER, 0.0
        if pending:
            flush()
        checkpoint.complete = True
        self.store.save_checkpoint(record.job_id, self.owner, checkpoint, self.settings.lease_s)
        log.info(
            "job %s: listed %d objects (%d bytes) in %d batches",
            record.job_id,
            checkpoint.objects,
            checkpoint.bytes,
            checkpoint.next_seq,
        )
        return MessageFate.DONE, 0.0
