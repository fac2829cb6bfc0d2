"""One seeded schedule: a chaotic phase (every fault on), then a calm one (no crashes or
injected errors, the denied prefix readable again, SQS still delivering at least once) in which
the job must end, be redriven if it ended with failures, and succeed. The invariants are checked
after every step, and the exact sets once the job has ended; a failure names the seed and prints
the schedule's last steps."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from progress.deadletters import DEAD_LETTERED
from progress.status import current_percent
from s3migrator.aws import Aws
from s3migrator.models import JobRecord, JobState

from .scheduler import Actor
from .world import OBJECTS, World

CHAOS_STEPS = 2000
CALM_STEPS = 4000
ANYONE_P = 0.3
TICKS_S = (1, 5, 20, 35, 65, 130)
MAX_ACTORS = 4


@dataclass
class Observer:
    """The invariants, checked from outside as a user and the server would see them."""

    world: World
    job_id: str
    batch_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    percent: dict[int, int] = field(default_factory=dict)  # per run (epoch): highest shown
    ended: dict[int, JobState] = field(default_factory=dict)
    # Reading failures reads every batch record: read them again only when they may have
    # changed (check_end compares the final sets exactly).
    _failures_at: tuple[int, ...] | None = None
    # Sent bodies already checked: the queue keeps every send, in order, and a check reads
    # only those sent since.
    _bodies_checked: int = 0
    seen: str = ""  # the job as last logged
    _writes_seen: int = -1
    _record: JobRecord | None = None

    def record(self) -> JobRecord | None:
        return self.world.store.get_job(self.job_id)

    def check(self) -> JobRecord | None:
        from s3migrator.work import WorkBatch

        bodies = self.world.fake.sent_bodies(self.world.resources.work_queue_url)
        for body in bodies[self._bodies_checked :]:
            batch = WorkBatch.model_validate_json(body)
            keys = tuple(item.key for item in batch.items)
            seen = self.batch_keys.setdefault(batch.batch_id, keys)
            assert seen == keys, f"batch {batch.batch_id} sent with {keys} and with {seen}"
        self._bodies_checked = len(bodies)
        if self.world.writes == self._writes_seen:
            return self._record  # nothing was written since: the record is as checked
        self._writes_seen = self.world.writes
        record = self._record = self.record()
        if record is None:
            return None
        c, listing = record.counters, record.listing
        seen = (
            f"job: {record.state.value} {record.phase.value} epoch {record.epoch},"
            f" listed {listing.objects}{'' if listing.complete else '+'}, copied"
            f" {c.objects_copied}, failed {c.objects_failed}, batches {c.batches_done}"
        )
        if seen != self.seen:
            self.world.scheduler.log.append(seen)
            self.seen = seen
        assert c.objects_copied >= 0 and c.objects_failed >= 0, f"negative counters: {c}"
        assert c.done <= listing.objects <= OBJECTS, f"counted {c} of {listing.objects} listed"
        # In a redrive's run, a batch counted with nothing decided changes no count but may
        # change which failures show: read them at every count there.
        counted = (record.epoch, c.objects_failed, c.batches_done if record.epoch else 0)
        if counted != self._failures_at:
            failures = self.world.store.batches.failures(self.job_id)
            assert len(failures) == c.objects_failed, f"{len(failures)} failures, counted {c}"
            self._failures_at = counted
        # What ``status`` shows (``to_status`` takes its percent from the record alone).
        shown, before = current_percent(record), self.percent.get(record.epoch, 0)
        assert shown >= before, f"percent went back from {before} to {shown}: {record}"
        self.percent[record.epoch] = shown
        if record.state is not JobState.RUNNING:
            assert shown == 100, f"{record.state.value} at {shown}%"
            assert self.ended.setdefault(record.epoch, record.state) is record.state
        else:
            assert record.epoch not in self.ended, f"run {record.epoch} ended, then ran again"
        assert record.state is not JobState.FAILED, f"job failed: {record.error}"
        return record

    def check_end(self, record: JobRecord) -> None:
        """The job has ended and its report is written: the sets are exact."""
        world, c = self.world, record.counters
        listed = set(world.keys)
        copied = {o["Key"] for o in _objects(world, world.destination)}
        failures = world.store.batches.failures(self.job_id)
        failed = {f.key for f in failures}
        # A dead-lettered batch's copier may have died after a copy landed: its outcome is
        # unknown, so the object is reported failed (and a redrive settles it) yet may be there.
        unknown = {f.key for f in failures if f.code == DEAD_LETTERED}
        assert record.listing.complete and record.listing.objects == OBJECTS
        assert c.objects_copied + c.objects_failed == OBJECTS, f"{c}"
        assert not (copied & failed) - unknown, f"copied and failed: {sorted(copied & failed)}"
        assert copied | failed == listed, f"neither copied nor failed: {listed - copied - failed}"
        assert len(failed) == c.objects_failed, f"{len(failed)} failures, counted {c}"
        assert len(copied - failed) == c.objects_copied, f"{len(copied)} copied, counted {c}"
        for key in copied:
            body = world.s3.get_object(Bucket=world.destination, Key=key)["Body"].read()
            assert body == world.bodies[key], f"{key} holds {body!r}"
        assert record.report_url is not None, f"no report: {record.error}"
        bucket, _, key = record.report_url.removeprefix("s3://").partition("/")
        assert bucket == world.reports, record.report_url
        report = world.s3.get_object(Bucket=bucket, Key=key)
        rows = list(csv.DictReader(io.StringIO(report["Body"].read().decode())))
        assert {row["Key"] for row in rows} == failed


def _objects(world: World, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(world.s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    except world.s3.exceptions.NoSuchBucket:
        return []


def run_schedule(seed: int, aws: Aws, table_name: str) -> int:
    """Run one schedule to its end; returns the steps it took."""
    world = World(seed, aws, table_name)
    try:
        job_id = world.submit()
        observer = Observer(world, job_id)
        steps = 0
        # Chaos until the job first ends (with failures: the denied keys), or for long enough.
        while steps < CHAOS_STEPS:
            record = observer.check()
            if record is not None and record.state is not JobState.RUNNING:
                break
            _act(world, job_id, chaos=True)
            steps += 1
        world.calm()
        world.scheduler.log.append(f"--- calm --- ({observer.seen})")
        redriven_epochs: set[int] = set()
        for _ in range(CALM_STEPS):
            record = observer.check()
            steps += 1
            settled = (
                record is not None
                and record.state is not JobState.RUNNING
                and record.report_due is None
            )
            if settled and (runnable := world.scheduler.runnable()):
                world.scheduler.step(world.rng.choice(runnable))  # let the last ones end
                continue
            if settled and record is not None:
                observer.check_end(record)
                if record.state is JobState.SUCCEEDED:
                    return steps
                if record.epoch not in redriven_epochs:
                    redriven_epochs.add(record.epoch)
                    _start(world, job_id, "redrive")
                    continue
            _act(world, job_id, chaos=False)
        raise AssertionError(f"the job did not end within {CALM_STEPS} calm steps")
    except BaseException as exc:
        schedule = "\n".join(world.scheduler.log[-400:])
        raise AssertionError(
            f"seed {seed}: {exc}\n{_where(world)}\n--- last steps of the schedule ---\n{schedule}"
        ) from exc
    finally:
        world.close()


def _where(world: World) -> str:
    """Where the job and the queues stand, to read beside a failing schedule."""
    fake, resources = world.fake, world.resources
    records = world.store.list_jobs()
    queues = {
        name: (len(fake.visible(url)), len(fake.in_flight(url)))
        for name, url in (
            ("jobs", resources.jobs_queue_url),
            ("jobs dlq", resources.jobs_dlq_url),
            ("work", resources.work_queue_url),
            ("work dlq", resources.work_dlq_url),
        )
    }
    failures = [
        (f.key, f.code, f.message[:80])
        for r in records
        for f in world.store.batches.failures(r.job_id)
    ]
    return f"jobs: {records!r}\nqueues (visible, in flight): {queues}\nfailures: {failures[:4]}"


def _act(world: World, job_id: str, *, chaos: bool) -> None:
    """One step of the schedule: an actor moves on (killed there, at times, in chaos), a new
    one starts, or time passes."""
    rng, scheduler = world.rng, world.scheduler
    runnable = scheduler.runnable()
    roll = rng.random()
    if runnable and (roll < 0.6 or len(runnable) >= MAX_ACTORS):
        actor = rng.choice(runnable)
        scheduler.step(actor, crash=chaos and rng.random() < world.faults.crash_p)
        _raise_unexpected(actor)
    elif roll < 0.9:
        # Mostly whoever has work (as autoscaling and long polls would have it); in chaos, at
        # times anyone, redrives included.
        if chaos and rng.random() < ANYONE_P:
            _start(world, job_id, None)
        elif (wanted := _with_work(world)) is not None:
            _start(world, job_id, wanted)
        else:
            _tick(world)
    else:
        _tick(world)


def _with_work(world: World) -> str | None:
    """The kind of process that has work now: the coordinator, a copier, or at times the
    progress run (None: time passes instead)."""
    fake, resources = world.fake, world.resources
    if fake.visible(resources.jobs_queue_url):
        return "coordinator"
    if fake.visible(resources.work_queue_url):
        return "copier"
    return "progress" if world.rng.random() < 0.5 else None


def _tick(world: World) -> None:
    seconds = world.rng.choice(TICKS_S)
    world.scheduler.log.append(f"tick {seconds}s")
    world.clock.advance(seconds)


def _start(world: World, job_id: str, wanted: str | None) -> None:
    options = [
        option
        for option in world.activities(job_id, {a.name for a in world.scheduler.runnable()})
        if wanted is None or option[0].startswith(wanted)
    ]
    if not options:
        _tick(world)
        return
    weights = [{"redrive": 0.1, "progress": 0.3}.get(name, 1.0) for name, _, _ in options]
    name, process, body = world.rng.choices(options, weights)[0]
    actor = world.scheduler.start(name, process, body)
    _raise_unexpected(actor)


def _raise_unexpected(actor: Actor) -> None:
    if actor.error is not None:
        raise AssertionError(f"{actor.name} raised {actor.error!r}") from actor.error
