"""A cancel racing a migration's steps: it is never lost, and it stops the migration at the
next safe point (the end of the step it arrived in), never in the middle of the deletion."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from test_migration import (
    NAME,
    OBJECTS,
    TEMPORARY,
    migration,
    objects_of,
    run_until_ended,
    source,
    submit,
)

import coordinator.migration
from coordinator.migration import Migration
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.migration_control import cancel_migration, resume_migration
from s3migrator.models import JobState
from s3migrator.resources import Resources

__all__ = ["source"]


def test_a_cancel_sent_while_the_first_copy_is_verified_stops_the_job_before_any_deletion(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration whose run is verifying its first copy when a cancel arrives
    real = Migration._differences
    seen: list[bool] = []

    def cancel_meanwhile(self: Migration, src: Any, dst: Any, *, extras: bool) -> str:
        if not seen and dst.bucket == TEMPORARY:
            cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
            record = store.get_job("mig-1")
            assert record is not None
            seen.append(record.cancel_requested)
        return real(self, src, dst, extras=extras)

    monkeypatch.setattr(Migration, "_differences", cancel_meanwhile)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the migration runs on
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the cancel was taken, the job stopped with the source whole, and nothing was deleted
    record = store.get_job("mig-1")
    assert seen == [True]
    assert record is not None and record.state is JobState.FAILED, record and record.error
    assert (record.error or "").startswith("cancelled: the source is untouched"), record.error
    assert record.migration is not None and record.migration.stopped_at == "copying_to_temporary"
    assert objects_of(source, NAME) == OBJECTS


def test_a_cancel_sent_during_the_deletion_stops_the_job_once_the_deletion_ended(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration that is cancelled while it deletes the source's objects
    real = coordinator.migration.delete_verified
    seen: list[bool] = []

    def cancel_meanwhile(s3: Any, location: Any, agreed: Any, **kw: Any) -> int:
        cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
        seen.append(True)
        return real(s3, location, agreed, **kw)

    monkeypatch.setattr(coordinator.migration, "delete_verified", cancel_meanwhile)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the migration runs on
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the deletion went to its end (no half-deleted source), and the job stopped there
    record = store.get_job("mig-1")
    assert seen == [True]
    assert record is not None and record.state is JobState.FAILED, record and record.error
    assert (record.error or "").startswith("cancelled: the source bucket is deleted"), record.error
    assert record.migration is not None and record.migration.stopped_at == "deleting_source"
    assert NAME not in Account.enter(aws.session, SOURCE_ACCOUNT).bucket_names()
    temporary = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(temporary, TEMPORARY) == OBJECTS
    # WHEN it is resumed THEN it ends whole under its name
    monkeypatch.setattr(coordinator.migration, "delete_verified", real)
    resume_migration(store, sqs, resources.jobs_queue_url, "mig-1")
    run_until_ended(aws, sqs, store, resources, runner)
    done = store.get_job("mig-1")
    assert done is not None and done.state is JobState.SUCCEEDED, done and done.error
    assert objects_of(temporary, NAME) == OBJECTS
