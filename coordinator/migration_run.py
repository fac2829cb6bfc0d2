"""What every step of a migration's run does besides its own work: record where it stands,
keep its lease while it works, wait through a delayed message, stop with a reason.

A run holds the job's lease; every write it makes is conditional on holding it, and every
write but a stop's on no cancel having been asked for (``MigrationWrites``). A step that takes
long (a verification, a deletion, emptying a bucket) keeps the lease as it makes progress
(``keep``): a run that stalls loses it, and the watchdog gives the job to another run.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coordinator.jobs import RunEnd
from coordinator.migration_rules import summary, where_things_are
from coordinator.verify import Difference, verify
from s3migrator.models import JobRecord, JobState, Phase
from s3migrator.percent import MIGRATE_TABLE
from s3migrator.sqs.queues import send_resume

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from coordinator.jobs import JobRunner, Run
    from s3migrator.migration_state import MigrationState
    from s3migrator.models import CopySpec, Location

log = logging.getLogger(__name__)


@dataclass
class MigrationRun:
    runner: JobRunner
    run: Run
    _held_at: float = field(default=0.0, init=False)
    _keeping: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def record(self) -> JobRecord:
        return self.run.record

    def _step(
        self, spec: CopySpec, state: MigrationState, first: bool
    ) -> tuple[str, Location, Location]:
        if first:
            return state.first_job, spec.source, state.temporary
        return state.second_job, state.temporary, spec.destination

    def _s3(self, location: Location) -> S3Client:
        spec = self.record.spec
        assert spec is not None
        return self.runner.clients.for_location(location, spec)

    def _pinned(self, location: Location, region: str) -> S3Client:
        """A client that reaches ``location``'s bucket only in ``region`` (S3Clients.pinned)."""
        spec = self.record.spec
        assert spec is not None
        return self.runner.clients.pinned(location, spec, region)

    def _differences(self, source: Location, destination: Location, *, extras: bool) -> str:
        """The differences the shared verifier finds (but extras in the destination, when
        they may be there)."""
        report = verify(
            self._s3(source),
            source,
            destination,
            destination_s3=self._s3(destination),
            keep_going=self._keep,
        )
        found = [d for d in report.differences if not (extras and d.kind is Difference.EXTRA)]
        return summary(found) if found else ""

    def _move(self, after: Phase, state: MigrationState) -> RunEnd | None:
        """Record the step reached; the run ends (a cancel stops it here) when that fails."""
        record = self.record
        if not self.runner.store.migrations.set_migration(
            record.job_id, self.run.token, record.phase, after, state
        ):
            return self._cancelled(after, state)
        record.phase, record.migration = after, state
        self._percent(MIGRATE_TABLE[after].first)
        return None

    def _cancelled(self, after: Phase, state: MigrationState) -> RunEnd:
        """A step's record refused: stop the job when a cancel was asked for (the step it was
        in is done: ``after`` says where that leaves things), else the run has lost it. A job
        that ended meanwhile refuses the stop's write too (``_fail``)."""
        if not self._cancel_asked():
            return RunEnd.GONE
        record = self.record
        done = after if record.phase is Phase.DELETING_SOURCE else record.phase
        return self._fail(f"cancelled: {where_things_are(done, state)}")

    def _cancel_asked(self) -> bool:
        """Whether a cancel was asked for since the run read the job (read again now)."""
        now = self.runner.store.get_job(self.record.job_id)
        self.record.cancel_requested = now is not None and now.cancel_requested
        return self.record.cancel_requested

    def _hold(self) -> None:
        """Keep the lease (LeaseLostError when another run has the job, or it ended)."""
        store, settings = self.runner.store, self.runner.settings
        store.migrations.hold(self.record.job_id, self.run.token, settings.lease_s)
        self._held_at = store.now()

    def _keep(self, *_: object) -> None:
        """Keep the lease as a long step gets on (called for each page or object, from any
        thread): at most a few writes per lease."""
        settings = self.runner.settings
        with self._keeping:
            if self.runner.store.now() - self._held_at >= settings.lease_s / 4:
                self._hold()

    def _percent(self, value: int) -> None:
        if value > self.record.percent:
            self.runner.store.set_percent(self.record.job_id, value, self.record.epoch)
            self.record.percent = value

    def _wait(self, delay_s: int, why: str) -> RunEnd:
        store, job_id = self.runner.store, self.record.job_id
        due = store.now() + delay_s
        if not store.schedule_resume(job_id, self.run.token, due, failed=False, progressed=True):
            return RunEnd.LOST
        store.release_lease(job_id, self.run.token)
        send_resume(self.runner.sqs, self.runner.jobs_queue_url, job_id, delay_s=delay_s)
        log.info("job %s: %s; looked at again in %d s", job_id, why, delay_s)
        return RunEnd.WAITING

    def _fail(
        self, reason: str, *, again_from: Phase | None = None, catch_up: bool = False
    ) -> RunEnd:
        """Stop the job with the reason; ``s3migrator resume`` takes it up again from
        ``again_from`` (where it stopped, by default), its first copy step a catch-up round
        when ``catch_up``."""
        record, state = self.record, self.record.migration
        assert state is not None
        state.stopped_at = (again_from or record.phase).value
        state.catch_up = state.catch_up or catch_up
        store = self.runner.store
        if not store.migrations.set_migration(
            record.job_id, self.run.token, record.phase, record.phase, state, stopping=True
        ):
            return RunEnd.GONE
        log.warning("job %s stopped: %s", record.job_id, reason)
        store.finish(
            record.job_id,
            JobState.FAILED,
            record.percent,
            error=reason,
            epoch=record.epoch,
            leased_by=self.run.token,
        )
        store.release_lease(record.job_id, self.run.token)
        return RunEnd.FAILED
