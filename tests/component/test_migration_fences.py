"""A run that lost the job (it stalled; another run took the job up and went on) makes no
side effect when it wakes: no bucket made, no configuration written, no copy step started, no
object deleted. And a cancel asked for during the deletion's verification stops the job before
anything is deleted. Each test is a break an outside review found, and failed before its fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account, role_arn
from test_migration import (
    NAME,
    OBJECTS,
    TEMPORARY,
    migration,
    objects_of,
    run_until_ended,
    serve_until,
    source,
    submit,
)

import coordinator.migration
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.migration_control import cancel_migration, resume_migration
from s3migrator.models import JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources
from s3migrator.settings import Settings

__all__ = ["source"]
LEASE_S = Settings().lease_s
GRACE_S = Settings().resume_grace_s


@pytest.fixture
def two_runs(make_coordinator: Any) -> tuple[Any, Any]:
    """The coordinator whose run stalls, and the one that takes the job up meanwhile."""
    return (
        make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1),
        make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1),
    )


def test_a_stale_run_writes_no_configuration_on_the_finished_bucket(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    two_runs: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls in CreateBucket of the name, while another finishes the
    # migration and the owner then changes the bucket's tags and removes its policy
    runner, other = two_runs
    final = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    real = coordinator.migration.create_bucket
    log: list[str] = []

    def stalling(s3: Any, location: Any, region: str) -> bool:
        if location.bucket == NAME and not log:
            log.append("stalled")
            runner.stop.set()  # the stalled coordinator takes no more messages
            clock.advance(LEASE_S + GRACE_S + 1)
            run_until_ended(aws, sqs, store, resources, other)
            tags = {"TagSet": [{"Key": "team", "Value": "finance"}]}
            final.put_bucket_tagging(Bucket=NAME, Tagging=tags)
            final.delete_bucket_policy(Bucket=NAME)
        return real(s3, location, region)

    monkeypatch.setattr(coordinator.migration, "create_bucket", stalling)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the stalled run wakes
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    # THEN the bucket keeps what its owner set since
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED
    assert final.get_bucket_tagging(Bucket=NAME)["TagSet"] == [{"Key": "team", "Value": "finance"}]
    with pytest.raises(final.exceptions.ClientError):
        json.loads(final.get_bucket_policy(Bucket=NAME)["Policy"])


def test_a_bucket_a_stale_run_made_after_a_cancel_is_taken_up_on_resume(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    two_runs: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls in CreateBucket of the name; meanwhile a cancel stops the job,
    # and the stalled request then makes the bucket
    runner, other = two_runs
    real = coordinator.migration.create_bucket
    log: list[str] = []

    def stalling(s3: Any, location: Any, region: str) -> bool:
        if location.bucket == NAME and not log:
            log.append("stalled")
            runner.stop.set()
            cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
            clock.advance(LEASE_S + 1)
            run_until_ended(aws, sqs, store, resources, other)
        return real(s3, location, region)

    monkeypatch.setattr(coordinator.migration, "create_bucket", stalling)
    submit(sqs, resources, migration(confirm_delete_source=True))
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    stopped = store.get_job("mig-1")
    assert stopped is not None and (stopped.error or "").startswith("cancelled"), stopped
    # WHEN the user resumes it
    monkeypatch.setattr(coordinator.migration, "create_bucket", real)
    runner.stop.clear()
    resume_migration(store, sqs, resources.jobs_queue_url, "mig-1")
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the empty bucket made since the job set out to make it is taken as the job's own
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    final = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(final, NAME) == OBJECTS


class StallsAfterFirstDelete:
    """An S3 client whose first DeleteObject is followed by ``stall``."""

    def __init__(self, inner: Any, stall: Callable[[], None]) -> None:
        self._inner, self._stall, self._calls = inner, stall, 0

    def delete_object(self, **kwargs: Any) -> Any:
        self._calls += 1
        answer = self._inner.delete_object(**kwargs)
        if self._calls == 1:
            self._stall()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_stale_run_deletes_no_more_of_the_source_once_a_cancel_stopped_the_job(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    two_runs: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls after deleting the source's first object, while a cancel stops
    # the job through another run
    runner, other = two_runs
    real = coordinator.migration.delete_verified
    left: list[list[str]] = []

    def stall() -> None:
        runner.stop.set()
        cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
        clock.advance(LEASE_S + 1)
        run_until_ended(aws, sqs, store, resources, other)
        left.append(sorted(objects_of(source, NAME)))

    def stalling(s3: Any, location: Any, agreed: Any, **kwargs: Any) -> int:
        return real(
            StallsAfterFirstDelete(s3, stall) if not left else s3, location, agreed, **kwargs
        )

    monkeypatch.setattr(coordinator.migration, "delete_verified", stalling)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the stalled run wakes
    serve_until(aws, sqs, store, resources, runner, lambda: bool(left))
    runner.serve(once=True)
    # THEN the source holds what the stopped job said it holds
    assert len(left[0]) == len(OBJECTS) - 1
    assert sorted(objects_of(source, NAME)) == left[0]


def test_a_stale_run_starts_no_copy_step_after_a_cancel_stopped_the_job(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    two_runs: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls just before recording the first copy step, while a cancel stops
    # the job through another run
    runner, other = two_runs
    real = store.migrations.create_step
    log: list[str] = []

    def stalling(job_id: str, token: str, step: Any) -> bool:
        if not log:
            log.append("stalled")
            runner.stop.set()
            cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
            clock.advance(LEASE_S + 1)
            run_until_ended(aws, sqs, store, resources, other)
        return real(job_id, token, step)

    monkeypatch.setattr(store.migrations, "create_step", stalling)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the stalled run wakes
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    # THEN the job stopped with the source untouched, and no copy step exists
    record = store.get_job("mig-1")
    assert record is not None and (record.error or "").startswith("cancelled: the source")
    assert store.get_job("mig-1.1") is None


def test_a_stale_run_makes_no_temporary_bucket_after_the_migration_ended(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    two_runs: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls as it looks for the temporary bucket, while another run
    # finishes the whole migration (and removes that bucket)
    runner, other = two_runs
    real = coordinator.migration.bucket_exists
    log: list[str] = []

    def stalling(s3: Any, location: Any) -> bool:
        if location.bucket == TEMPORARY and not log:
            log.append("stalled")
            runner.stop.set()
            clock.advance(LEASE_S + GRACE_S + 1)
            run_until_ended(aws, sqs, store, resources, other)
        return real(s3, location)

    monkeypatch.setattr(coordinator.migration, "bucket_exists", stalling)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the stalled run wakes
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    # THEN no temporary bucket is left behind
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED
    assert TEMPORARY not in Account.enter(aws.session, DESTINATION_ACCOUNT).bucket_names()


def test_a_source_elsewhere_than_its_message_says_is_not_migrated_into_its_own_region(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any
) -> None:
    # GIVEN a bucket in us-west-2, sent as if in eu-west-1, to be moved to us-west-2 within
    # its account: its deletion could not be told from the new bucket by region
    owner = role_arn(SOURCE_ACCOUNT, "owner")
    s3 = Account.enter(aws.session, SOURCE_ACCOUNT, "us-west-2").client("s3")
    s3.create_bucket(Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=NAME, Key="a.txt", Body=b"alpha")
    runner = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    job = JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=owner),
        destination=Location(bucket=NAME, region="us-west-2", role_arn=owner),
        confirm_delete_source=True,
    )
    submit(sqs, resources, job)
    # WHEN it runs THEN it stops at once, nothing copied
    run_until_ended(aws, sqs, store, resources, runner)
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert "the source's own account and region" in (record.error or "")
    assert store.get_job("mig-1.1") is None
    assert objects_of(s3, NAME) == {"a.txt": b"alpha"}


def test_a_temporary_bucket_that_cannot_be_emptied_stops_the_job_to_be_resumed(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration whose temporary bucket refuses one key's deletion (a policy, say)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    real = coordinator.migration.empty

    class Refusing:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def delete_objects(self, **kwargs: Any) -> Any:
            kept = [o for o in kwargs["Delete"]["Objects"] if o["Key"] != "a.txt"]
            if kept:
                self._inner.delete_objects(**{**kwargs, "Delete": {"Objects": kept}})
            return {"Errors": [{"Key": "a.txt", "Code": "AccessDenied", "Message": "Denied"}]}

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    monkeypatch.setattr(
        coordinator.migration, "empty", lambda s3, *a, **k: real(Refusing(s3), *a, **k)
    )
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs THEN it stops (not retried for ever) with the bucket whole under its name
    run_until_ended(aws, sqs, store, resources, runner)
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert (record.error or "").startswith("the bucket is whole under its name; could not delete 1")
    assert record.migration is not None and record.migration.stopped_at == "removing_temporary"
    # WHEN the deletion is allowed and the job resumed THEN it ends
    monkeypatch.setattr(coordinator.migration, "empty", real)
    resume_migration(store, sqs, resources.jobs_queue_url, "mig-1")
    run_until_ended(aws, sqs, store, resources, runner)
    done = store.get_job("mig-1")
    assert done is not None and done.state is JobState.SUCCEEDED, done and done.error
    assert TEMPORARY not in Account.enter(aws.session, DESTINATION_ACCOUNT).bucket_names()


def test_a_cancel_during_the_verification_before_the_deletion_keeps_the_source_whole(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration cancelled while it verifies the source before deleting it
    real = coordinator.migration.verify
    seen: list[str] = []

    def cancel_meanwhile(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        if not seen:
            cancel_migration(store, sqs, resources.jobs_queue_url, "mig-1")
            seen.append("cancelled")
        return report

    monkeypatch.setattr(coordinator.migration, "verify", cancel_meanwhile)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs on
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stopped with nothing deleted
    record = store.get_job("mig-1")
    assert seen and record is not None and (record.error or "").startswith("cancelled")
    assert objects_of(source, NAME) == OBJECTS
