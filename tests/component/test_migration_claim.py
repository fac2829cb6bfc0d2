"""The bucket of the name is taken as the job's own only when the job made it, a stalled run
writes no configuration on the finished bucket, and a refused step of the source's deletion
can be resumed. Each test is a break an outside review found, and failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from test_migration import (
    DESTINATION_ROLE,
    NAME,
    OBJECTS,
    SOURCE_ROLE,
    TEMPORARY,
    migration,
    objects_of,
    run_until_ended,
    serve_until,
    source,
    submit,
)
from test_migration_fences import GRACE_S, LEASE_S

import coordinator.migration
import coordinator.migration_run
from s3migrator.aws import Aws
from s3migrator.errors import InvalidJobError, TransientError
from s3migrator.jobstore import JobStore
from s3migrator.migration_control import resume_migration
from s3migrator.models import JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources

__all__ = ["source"]
COLLEAGUE_TAGS = [{"Key": "owner", "Value": "colleague"}]


def colleague_makes_the_bucket(aws: Aws) -> Any:
    """Someone else in the destination account makes an (empty) bucket of the name."""
    s3 = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    s3.create_bucket(Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_bucket_tagging(Bucket=NAME, Tagging={"TagSet": COLLEAGUE_TAGS})
    return s3


def test_a_bucket_someone_else_made_after_a_refused_attempt_is_not_taken_as_the_jobs(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration whose CreateBucket of the name is refused once (S3 still releasing
    # it), after which a colleague in the destination account makes the bucket
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    real = coordinator.migration.create_bucket
    made: list[Any] = []

    def refused_once(s3: Any, location: Any, region: str) -> bool:
        if location.bucket == NAME and not made:
            made.append(colleague_makes_the_bucket(aws))
            raise TransientError("OperationAborted", "A conflicting conditional operation")
        return real(s3, location, region)

    monkeypatch.setattr(coordinator.migration, "create_bucket", refused_once)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs on
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stops without touching the colleague's bucket, every object kept in its own
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert "cannot tell it made it" in (record.error or "")
    assert made[0].get_bucket_tagging(Bucket=NAME)["TagSet"] == COLLEAGUE_TAGS
    assert objects_of(made[0], NAME) == {}
    assert objects_of(made[0], TEMPORARY) == OBJECTS


def test_a_bucket_someone_else_made_after_the_job_stopped_is_not_taken_on_resume(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    clock: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration stopped at its name's deadline, after which a colleague makes the
    # bucket of the name in the destination account
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    real = coordinator.migration.create_bucket

    def refused(s3: Any, location: Any, region: str) -> bool:
        if location.bucket == NAME:
            clock.advance(10 * 3600)  # past the job's deadline
            raise TransientError("OperationAborted", "A conflicting conditional operation")
        return real(s3, location, region)

    monkeypatch.setattr(coordinator.migration, "create_bucket", refused)
    submit(sqs, resources, migration(confirm_delete_source=True, name_wait_h=1))
    run_until_ended(aws, sqs, store, resources, runner)
    stopped = store.get_job("mig-1")
    assert stopped is not None and "deadline" in (stopped.error or ""), stopped
    final = colleague_makes_the_bucket(aws)
    # WHEN the user resumes it
    monkeypatch.setattr(coordinator.migration, "create_bucket", real)
    resume_migration(store, sqs, resources.jobs_queue_url, "mig-1")
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stops again, the colleague's bucket untouched
    record = store.get_job("mig-1")
    assert record is not None and "cannot tell it made it" in (record.error or "")
    assert final.get_bucket_tagging(Bucket=NAME)["TagSet"] == COLLEAGUE_TAGS
    assert objects_of(final, NAME) == {}


def test_a_stale_run_writes_no_notifications_on_the_finished_bucket(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    clock: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a source with notifications, migrated to eu-west-1 of the other account (where its
    # queue is), and a run that stalls after verifying the copy back while another run
    # finishes the migration and the owner then turns the notifications off
    queue = f"arn:aws:sqs:eu-west-1:{SOURCE_ACCOUNT}:uploads"
    source.put_bucket_notification_configuration(
        Bucket=NAME,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    other = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    final = Account.enter(aws.session, DESTINATION_ACCOUNT, "eu-west-1").client("s3")
    real = coordinator.migration_run.verify
    log: list[str] = []

    def stalling(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        if args[1].bucket == TEMPORARY and not log:  # the copy back's verification
            log.append("stalled")
            runner.stop.set()
            clock.advance(LEASE_S + GRACE_S + 1)
            run_until_ended(aws, sqs, store, resources, other)
            final.put_bucket_notification_configuration(Bucket=NAME, NotificationConfiguration={})
        return report

    monkeypatch.setattr(coordinator.migration_run, "verify", stalling)
    job = JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        confirm_delete_source=True,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=SOURCE_ROLE),
        destination=Location(bucket=NAME, region="eu-west-1", role_arn=DESTINATION_ROLE),
    )
    submit(sqs, resources, job)
    # WHEN the stalled run wakes
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    # THEN the finished bucket keeps what its owner set
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED
    after = final.get_bucket_notification_configuration(Bucket=NAME)
    assert not after.get("QueueConfigurations"), after


def test_a_refused_purge_of_the_sources_versions_stops_the_job_to_be_resumed(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration whose purge of the source's versions is refused (a policy, say)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    real = coordinator.migration.purge_versions

    def refused(*args: Any, **kwargs: Any) -> int:
        raise InvalidJobError(f"could not delete 1 versions in {NAME}, first a.txt: Denied")

    monkeypatch.setattr(coordinator.migration, "purge_versions", refused)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs THEN it stops, resumable, every object in the temporary bucket
    run_until_ended(aws, sqs, store, resources, runner)
    record = store.get_job("mig-1")
    assert record is not None and record.migration is not None
    assert record.migration.stopped_at == "deleting_source", record.error
    # WHEN the deletion is allowed and the job resumed THEN it ends whole
    monkeypatch.setattr(coordinator.migration, "purge_versions", real)
    resume_migration(store, sqs, resources.jobs_queue_url, "mig-1")
    run_until_ended(aws, sqs, store, resources, runner)
    done = store.get_job("mig-1")
    assert done is not None and done.state is JobState.SUCCEEDED, done and done.error
    final = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(final, NAME) == OBJECTS


def test_a_bucket_of_the_name_made_meanwhile_in_another_region_is_not_taken_as_the_jobs(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration to us-west-2 whose CreateBucket of the name is overtaken: the
    # destination's account makes the bucket in eu-west-1 just before the job's request lands
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    real = coordinator.migration.create_bucket
    elsewhere = Account.enter(aws.session, DESTINATION_ACCOUNT, "eu-west-1").client("s3")

    def overtaken(s3: Any, location: Any, region: str) -> bool:
        if (
            location.bucket == NAME
            and NAME not in Account.enter(aws.session, DESTINATION_ACCOUNT).bucket_names()
        ):
            elsewhere.create_bucket(
                Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            # The job's own request timed out: its outcome is unknown, its attempt kept.
            raise TransientError("ReadTimeoutError", "Read timeout on endpoint URL")
        return real(s3, location, region)

    monkeypatch.setattr(coordinator.migration, "create_bucket", overtaken)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs on
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it does not take that bucket for its own: it stops, nothing copied into it
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert "cannot tell it made it" in (record.error or ""), record.error
    assert objects_of(elsewhere, NAME) == {}
