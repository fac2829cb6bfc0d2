"""A stopped migration is taken up again where it stopped: after its confirmation was missing,
after objects were written to the source while it was being deleted (the first copy runs again
as a sync under a new id), and after a cancel."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from test_migration import NAME, OBJECTS, migration, objects_of, run_until_ended, source, submit

import coordinator.migration
from s3migrator.aws import Aws
from s3migrator.cli import main
from s3migrator.jobstore import JobStore
from s3migrator.models import JobRecord, JobState, Location, Phase
from s3migrator.resources import Resources

__all__ = ["source"]  # the fixture, shared with test_migration.py


def destination_objects(aws: Aws) -> dict[str, bytes]:
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    return objects_of(destination, NAME)


def test_a_migration_stopped_for_its_confirmation_resumes_with_it(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a migration that stopped after its verified first copy, unconfirmed
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration())
    run_until_ended(aws, sqs, store, resources, runner)
    stopped = store.get_job("mig-1")
    assert stopped is not None and stopped.state is JobState.FAILED
    assert objects_of(source, NAME) == OBJECTS
    # WHEN it is resumed, confirming the source's deletion
    assert main(["resume", "mig-1", "--yes-delete-source"]) == 0
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it ended whole: the bucket under its name in the destination account
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert (record.percent, record.epoch) == (100, 1)
    assert destination_objects(aws) == OBJECTS
    assert NAME not in Account.enter(aws.session, SOURCE_ACCOUNT).bucket_names()


def test_objects_written_during_the_deletion_stop_it_and_a_resume_catches_them_up(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration, and a writer who puts a new object in the source as its
    # verified objects are being deleted
    real_delete = coordinator.migration.delete_verified
    written: list[str] = []

    def writer_meanwhile(
        s3: Any, location: Location, agreed: list[tuple[str, str]], **kw: Any
    ) -> int:
        if not written:
            source.put_object(Bucket=NAME, Key="late.txt", Body=b"written late")
            written.append("late.txt")
        return real_delete(s3, location, agreed, **kw)

    monkeypatch.setattr(coordinator.migration, "delete_verified", writer_meanwhile)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stopped, the late object kept in the source and named, the bucket not deleted
    stopped = store.get_job("mig-1")
    assert stopped is not None and stopped.state is JobState.FAILED
    assert stopped.error is not None and "late.txt" in stopped.error
    assert objects_of(source, NAME) == {"late.txt": b"written late"}
    # WHEN it is resumed
    assert main(["resume", "mig-1"]) == 0
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN a catch-up round copied the late object, and the migration ended whole
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    catch_up = store.get_job("mig-1.1.2")
    assert catch_up is not None and catch_up.state is JobState.SUCCEEDED
    assert catch_up.counters.objects_copied == 1
    assert destination_objects(aws) == {**OBJECTS, "late.txt": b"written late"}


def test_a_cancelled_migration_stops_at_a_safe_point_and_resumes(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a confirmed migration, cancelled while its first copy step runs
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    cancelled: list[Phase] = []

    def cancel_while_copying(record: JobRecord) -> None:
        if not cancelled and record.phase is Phase.COPYING_TO_TEMPORARY:
            assert main(["cancel", "mig-1"]) == 0
            cancelled.append(record.phase)

    run_until_ended(aws, sqs, store, resources, runner, between=cancel_while_copying)
    # THEN it stopped there, saying the source is untouched, and nothing was deleted
    stopped = store.get_job("mig-1")
    assert cancelled and stopped is not None and stopped.state is JobState.FAILED
    assert stopped.error is not None and stopped.error.startswith(
        "cancelled: the source is untouched"
    )
    assert objects_of(source, NAME) == OBJECTS
    # WHEN it is resumed THEN it ends whole
    assert main(["resume", "mig-1"]) == 0
    run_until_ended(aws, sqs, store, resources, runner)
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert destination_objects(aws) == OBJECTS
