"""A migration whose coordinator dies after any step's work and before the step is recorded is
taken up again (its lease runs out, the progress run's watchdog sends a resume) and ends whole:
each step done twice does no harm, and the source is never deleted before it is verified."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, Account
from test_migration import NAME, OBJECTS, migration, objects_of, run_until_ended, source, submit

import coordinator.migration_run as migration_run
from coordinator.jobs import JobRunner, Run, RunEnd
from coordinator.migration import Migration
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.migration_state import MigrationState
from s3migrator.models import JobRecord, JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings

__all__ = ["source"]  # the fixture, shared with test_migration.py
DIED = "the coordinator died"


class Died(Exception):  # noqa: N818 - a process's death, not an error
    """The coordinator's process dies here: nothing after this line of its run happens."""


def dead_runs_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run ended by ``Died`` neither releases its lease nor sends a resume, as a dead
    process would not; any other error is handled as ever."""
    real_resume_later = JobRunner._resume_later

    def resume_later(self: JobRunner, run: Run, error: str) -> RunEnd:
        if DIED in error:
            return RunEnd.LOST
        return real_resume_later(self, run, error)

    monkeypatch.setattr(JobRunner, "_resume_later", resume_later)


@pytest.mark.parametrize(
    "dies_before",
    [
        Phase.TEMPORARY_READY,
        Phase.COPYING_TO_TEMPORARY,
        Phase.DELETING_SOURCE,
        Phase.WAITING_FOR_NAME,
        Phase.DESTINATION_CREATED,
        Phase.COPYING_BACK,
        Phase.REMOVING_TEMPORARY,
    ],
)
def test_a_coordinator_that_dies_before_recording_a_step_is_resumed_and_the_migration_ends_whole(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
    dies_before: Phase,
) -> None:
    # GIVEN a confirmed migration whose coordinator dies once, after the work of the step that
    # leads to ``dies_before`` and before that step is recorded (its lease still held)
    died: list[Phase] = []
    real_move = Migration._move

    def dying(self: Migration, after: Phase, state: MigrationState) -> RunEnd | None:
        if after is dies_before and not died:
            died.append(after)
            raise Died(f"the coordinator died before recording {after.value}")
        return real_move(self, after, state)

    monkeypatch.setattr(Migration, "_move", dying)
    dead_runs_do_nothing(monkeypatch)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    settings = Settings()
    waited: list[bool] = []

    def lease_runs_out(record: JobRecord) -> None:
        if died and not waited:
            # The dead run's lease runs out, and the resume grace with it: the watchdog's turn.
            clock.advance(settings.lease_s + settings.resume_grace_s + 1)
            waited.append(True)

    # WHEN the stack runs it, the progress run's watchdog taking it up again
    run_until_ended(aws, sqs, store, resources, runner, between=lease_runs_out)
    # THEN it died once where it was meant to, and the migration ended whole all the same
    assert died == [dies_before]
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert record.percent == 100
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS


def test_a_coordinator_that_dies_between_recording_a_wait_and_sending_its_resume_is_resumed(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration whose coordinator dies once while its copy step runs, after
    # recording that a resume is due (and giving up its lease) and before sending that resume
    died: list[str] = []
    real_send = migration_run.send_resume

    def dying(sqs_: Any, url: str, job_id: str, *, delay_s: int = 0) -> None:
        if job_id == "mig-1" and delay_s > 0 and not died:
            died.append(job_id)
            raise Died("the coordinator died before sending its resume")
        real_send(sqs_, url, job_id, delay_s=delay_s)

    monkeypatch.setattr(migration_run, "send_resume", dying)
    dead_runs_do_nothing(monkeypatch)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    settings = Settings()
    stalled: list[float] = []

    def grace_passes(record: JobRecord) -> None:
        if died and not stalled:
            # No message is on its way: only the watchdog, once the resume grace has passed.
            stalled.append(record.resume_due or 0.0)
            clock.advance(settings.resume_grace_s + 1)

    # WHEN the stack runs it, the progress run's watchdog taking it up again
    run_until_ended(aws, sqs, store, resources, runner, between=grace_passes)
    # THEN it died where it was meant to, and the migration ended whole all the same
    assert died == ["mig-1"] and stalled
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS
