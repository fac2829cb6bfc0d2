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
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from coordinator.authority import Authority
from coordinator.batching import group_is_full, limits, pack
from coordinator.buckets import versioned
from coordinator.destination import Destination
from coordinator.redrive import send_again
from coordinator.resend import last_group_again
from coordinator.sending import send_batches
from coordinator.shard_listing import list_in_shards
from coordinator.sieve import Sieve
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.backoff import backoff_s
from s3migrator.errors import InvalidJobError, LeaseLostError, OperationError
from s3migrator.migration_state import MigrationState
from s3migrator.models import CopySpec, JobMessage, JobRecord, JobState, Mode, Phase
from s3migrator.selection import EVERYTHING, ListingPlan, Tally
from s3migrator.sqs.queues import queue_depth, send_resume
from s3migrator.work import WorkBatch

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
    WAITING = "waiting"  # a migration waits (its copy, the name): a resume is on its way
    GONE = "gone"  # the job ended meanwhile


@dataclass(frozen=True)
class Run:
    """A job taken for one run: its record as read, and the run's own lease token."""

    record: JobRecord
    token: str

    @property
    def job_id(self) -> str:
        return self.record.job_id


@dataclass
class JobRunner:
    store: JobStore
    clients: S3Clients
    sqs: SQSClient
    work_queue_url: str
    jobs_queue_url: str
    settings: Settings
    region: str
    authority: Authority
    stop: threading.Event = field(default_factory=threading.Event)
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Waits that long, or less when asked to stop (then True); a test passes its own.
    pause: Callable[[float], bool] | None = None
    _running: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reject(self, job_id: str, reason: str) -> bool:
        """Record a message that names a job id but is no valid job: a failed job with a reason;
        False when that id already belongs to a job, which is left untouched."""
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

    def take(
        self, job_id: str, message: JobMessage | None = None, sender: str | None = None
    ) -> Run | None:
        """Record the job (from its message, the first time) and take its lease for one run.

        None when there is nothing for a coordinator to do, or when another run holds the job
        (in another process, or in this one: a duplicate delivery), which then carries on.
        The message's sides are bound to their accounts first (``Authority.bind``), which
        raises InvalidJobError for a side outside the stack's accounts.
        """
        if message is not None:
            self.store.create_job(self.new_record(job_id, self.authority.bind(message), sender))
        record = self.store.get_job(job_id)
        if record is None or not record.needs_coordinator:
            log.info("job %s needs no coordinator; dropping its message", job_id)
            return None
        if message is None and record.resume_is_early(self.store.now()):
            log.warning("job %s: a resume before the one due; ignored", job_id)
            return None
        with self._lock:
            if job_id in self._running:
                log.info("job %s is already being run here; dropping the duplicate", job_id)
                return None
            token = f"{self.owner}-{uuid.uuid4().hex[:12]}"
            if not self.store.acquire_lease(job_id, token, self.settings.lease_s):
                log.info("job %s is held by another coordinator; it carries on", job_id)
                return None
            # Read again under the lease: another run may have moved the job on (listed a
            # group, stopped, released) between the first read and the lease.
            record = self.store.get_job(job_id)
            if record is None or not record.needs_coordinator:
                self.store.release_lease(job_id, token)
                log.info("job %s needs no coordinator any more; dropping its message", job_id)
                return None
            self._running.add(job_id)
        return Run(record, token)

    def work(self, run: Run) -> RunEnd:
        """Take the job as far as it goes: destination, listing; never raises."""
        try:
            return self._work(run)
        except InvalidJobError as exc:
            log.warning("job %s failed: %s", run.job_id, exc)
            self.store.finish(
                run.job_id,
                JobState.FAILED,
                run.record.percent,
                error=str(exc),
                epoch=run.record.epoch,
                leased_by=run.token,
            )
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

    def new_record(self, job_id: str, job: JobMessage, sender: str | None) -> JobRecord:
        """A new job's record, from its message (its sides bound to their accounts)."""
        now = self.store.now()
        return JobRecord(
            job_id=job_id,
            mode=job.mode,
            spec=CopySpec(
                job_id=job_id,
                source=job.source,
                destination=job.destination,
                options=job.options,
                overwrite=job.overwrite,
                sender=sender,
                restore=job.restore,
            ),
            report=job.report,
            plan=job.listing_plan(),
            migration=MigrationState.planned(job_id, job) if job.mode is Mode.MIGRATE else None,
            created_at=now,
            updated_at=now,
        )

    def _resume_later(self, run: Run, error: str) -> RunEnd:
        """After an error: give the lease up and send a resume after a backoff, or fail the
        job once it has been tried too often without its listing moving."""
        # The resume is due after the backoff, and is recorded so: one that comes before (a
        # note sent by anyone else) is ignored, and the backoff holds.
        delay = backoff_s(run.record.resumes + 1, cap_s=900)
        due = self.store.now() + delay
        resumes = self.store.schedule_resume(run.job_id, run.token, due, error)
        if not resumes:
            return RunEnd.LOST  # another run holds the job now (or it ended): it is theirs
        if resumes > self.settings.max_resumes:
            reason = f"the coordinator could not get on with the job {resumes} times: {error}"
            self.store.finish(
                run.job_id,
                JobState.FAILED,
                run.record.percent,
                error=reason,
                epoch=run.record.epoch,
                leased_by=run.token,
            )
            self.store.release_lease(run.job_id, run.token)
            return RunEnd.FAILED
        self.store.release_lease(run.job_id, run.token)
        send_resume(self.sqs, self.jobs_queue_url, run.job_id, delay_s=delay)
        return RunEnd.RETRYING

    def _gone(self, run: Run) -> RunEnd:
        """The job is no longer as this run read it (finished, reopened, moved on): the run
        lets it go, to whoever it now needs."""
        self.store.release_lease(run.job_id, run.token)
        return RunEnd.GONE

    def _stop(self, run: Run) -> RunEnd:
        """Asked to stop: another coordinator takes the job up at once from the checkpoint."""
        if not self.store.schedule_resume(run.job_id, run.token, self.store.now(), failed=False):
            return RunEnd.LOST
        self.store.release_lease(run.job_id, run.token)
        send_resume(self.sqs, self.jobs_queue_url, run.job_id, delay_s=0)
        return RunEnd.STOPPED

    def _work(self, run: Run) -> RunEnd:
        record, spec = run.record, run.record.spec
        assert spec is not None
        if record.mode is Mode.MIGRATE:
            from coordinator.migration import Migration  # it drives this runner's copy jobs

            return Migration(self, run).advance()
        if record.phase is Phase.REDRIVING:
            # A redrive died before sending its batches: they go now, as it defined them.
            sent = send_again(self.store, self.sqs, self.work_queue_url, record, self.settings)
            log.info("job %s: the redrive's %d objects sent again", run.job_id, sent)
            self.store.release_lease(run.job_id, run.token)
            return RunEnd.LISTED
        if record.phase in (Phase.STARTED, Phase.CREATING_BUCKET, Phase.BUCKET_CREATED):
            destination = Destination(self.store, self.clients, self.region, self.settings.lease_s)
            if not destination.prepare(record, run.token):
                return self._gone(run)
        if record.phase is Phase.DESTINATION_READY:
            if record.plan is not None and record.plan.versions == "all":
                self._check_versioned(spec)
            if not self.store.set_phase(
                run.job_id, run.token, record.epoch, Phase.DESTINATION_READY, Phase.COPYING
            ):
                return self._gone(run)
            record.phase = Phase.COPYING
        return self._enumerate(run, spec, run.record.plan or EVERYTHING)

    def _check_versioned(self, spec: CopySpec) -> None:
        if not versioned(self.clients.for_location(spec.destination, spec), spec.destination):
            raise InvalidJobError(
                f'versions "all" needs a versioned destination: {spec.destination.url} does not'
                " keep versions (enable versioning on it, or copy the current versions only)"
            )

    def _sieve(self, run: Run, spec: CopySpec, plan: ListingPlan, *, merged: bool) -> Sieve:
        """The job's listing as it enqueues it (``merged`` with the destination's, for a sync),
        keeping the run's lease while a manifest is read up to the checkpoint."""
        sieve = Sieve(self.clients.for_location(spec.source, spec), spec, plan)
        if merged and plan.sync:
            sieve.destination = self.clients.for_location(spec.destination, spec)
        lease_s = self.settings.lease_s
        sieve.keep_going = lambda: self.store.renew_lease(run.job_id, run.token, lease_s)
        return sieve

    def _enumerate(self, run: Run, spec: CopySpec, plan: ListingPlan) -> RunEnd:
        checkpoint = run.record.listing.model_copy()
        if checkpoint.complete:
            return RunEnd.LISTED
        if (sharded := list_in_shards(self, run, spec, plan)) is not None:
            return sharded  # a large job's listing: its shards at once
        if checkpoint.group_start < checkpoint.next_seq:
            again = last_group_again(
                self.store,
                self.settings,
                run.token,
                spec,
                checkpoint,
                lambda: self._sieve(run, spec, plan, merged=False),
            )
            if again:
                self._send(again)
        sieve = self._sieve(run, spec, plan, merged=True)
        # What was left out before this run's start; the sieve counts from there.
        base = checkpoint.tally
        batches = pack(
            sieve.items(checkpoint.start_after),
            spec,
            first_seq=checkpoint.next_seq,
            together=plan.versions == "all",
            **limits(self.settings),
        )
        group: list[tuple[WorkBatch, str | None]] = []  # each batch, and the key before it
        saved_seq = checkpoint.next_seq

        seen = Tally()  # what the sieve left out up to the last batch defined

        def define_and_send() -> None:
            nonlocal saved_seq, seen
            checkpoint.group_start = checkpoint.next_seq
            tallies = []  # each batch's range's, so a replacement can set the total right
            for batch, _ in group:
                checkpoint.objects += len(batch.items)
                checkpoint.bytes += sum(item.bytes_to_copy for item in batch.items)
                checkpoint.next_seq += 1
                checkpoint.start_after = batch.items[-1].key
                now = sieve.through(checkpoint.start_after)
                tallies.append(now.minus(seen))
                seen = now
            checkpoint.tally = base.plus(seen)
            # Defined first: from here on each id names these keys, whatever happens next.
            self.store.define_group(
                run.job_id,
                run.token,
                checkpoint,
                self.settings.lease_s,
                saved_seq,
                group,
                ranged=not plan.sync,
                tallies=tallies,
            )
            saved_seq = checkpoint.next_seq
            self._send([batch for batch, _ in group])
            group.clear()

        after = checkpoint.start_after
        for batch in batches:
            group.append((batch, after))
            after = batch.items[-1].key
            if group_is_full(len(group), sum(len(b.items) for b, _ in group)):
                if not self._room_in_the_work_queue(run):
                    return self._stop(run)
                define_and_send()
                if self.stop.is_set():
                    # The group is on its way: the next run need not send it again.
                    checkpoint.group_start = checkpoint.next_seq
                    self.store.save_checkpoint(
                        run.job_id, run.token, checkpoint, self.settings.lease_s, seq=saved_seq
                    )
                    return self._stop(run)
        if group:
            define_and_send()
        checkpoint.tally = base.plus(sieve.running)
        checkpoint.complete = True
        self.store.save_checkpoint(
            run.job_id, run.token, checkpoint, self.settings.lease_s, seq=saved_seq
        )
        log.info(
            "job %s: listed %d objects (%d bytes) in %d batches",
            run.job_id,
            checkpoint.objects,
            checkpoint.bytes,
            checkpoint.next_seq,
        )
        return RunEnd.LISTED

    def _room_in_the_work_queue(self, run: Run, halted: Callable[[], bool] = bool) -> bool:
        """Wait while the work queue holds ``max_backlog_batches`` or more, so the listing never
        runs far ahead of the copiers (a batch older than the queue's retention would be lost);
        False when asked to stop meanwhile, or once ``halted`` (a shard's thread: the run's)."""
        pause = self.pause or self.stop.wait
        while not halted():
            visible, in_flight = queue_depth(self.sqs, self.work_queue_url)
            if visible + in_flight < self.settings.max_backlog_batches:
                return True
            log.info(
                "job %s: %d batches wait for the copiers; the listing waits too",
                run.job_id,
                visible + in_flight,
            )
            self.store.renew_lease(run.job_id, run.token, self.settings.lease_s)
            if pause(self.settings.backlog_poll_s):
                return False
        return False

    def _send(self, batches: list[WorkBatch]) -> None:
        send_batches(
            self.sqs, self.work_queue_url, batches, max_total_bytes=self.settings.message_max_bytes
        )
