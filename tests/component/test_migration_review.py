"""Breaks an outside review proved in the migration's first cut, kept as tests: an object written
to the source while its versions were purged was deleted with them; history made after the start
was purged under "noncurrent_versions": "keep"; a bucket of the name that the destination's own
account made meanwhile was taken for the job's."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, SOURCE_ACCOUNT, Account, role_arn
from test_migration import NAME, OBJECTS, migration, objects_of, run_until_ended, source, submit

import coordinator.migration
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources

__all__ = ["source"]  # the fixture, shared with test_migration.py


def test_an_object_written_while_versions_are_purged_is_kept_and_stops_the_job(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration, and an application that writes to the source just as the
    # migration purges what its deletion left
    real_purge = coordinator.migration.purge_versions

    def written_then_purged(s3: Any, location: Location, **kw: Any) -> int:
        source.put_object(Bucket=NAME, Key="late.txt", Body=b"written during the purge")
        return real_purge(s3, location, **kw)

    monkeypatch.setattr(coordinator.migration, "purge_versions", written_then_purged)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN it runs
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the late object is kept in the source, which is not deleted, and the job says so
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and "late.txt" in record.error
    assert objects_of(source, NAME) == {"late.txt": b"written during the purge"}
    # (on the first cut it succeeded, the late object in no bucket at all)


def test_a_source_versioned_after_the_start_is_not_deleted_under_keep(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a confirmed migration keeping noncurrent versions, whose source turns versioning on
    # while the first copy runs (its deletion would then leave history it cannot tell apart)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    changed: list[str] = []

    def versioned_meanwhile(record: Any) -> None:
        if not changed:
            source.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Enabled"})
            changed.append("versioning")

    run_until_ended(aws, sqs, store, resources, runner, between=versioned_meanwhile)
    # THEN it stopped before deleting anything, saying why, every version kept
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and "keeps versions" in record.error
    versions = source.list_object_versions(Bucket=NAME)
    assert sorted(v["Key"] for v in versions["Versions"]) == sorted(OBJECTS)
    assert versions.get("DeleteMarkers", []) == []
    assert objects_of(source, NAME) == OBJECTS


def test_a_bucket_of_the_name_made_by_the_destinations_account_is_not_taken_for_the_jobs(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration within one account, from eu-west-1 to us-west-2, and an application of
    # that account that makes its bucket again, in eu-west-1, as soon as it is gone
    app = Account.enter(aws.session, SOURCE_ACCOUNT, "eu-west-1").client("s3")
    real_delete = coordinator.migration.delete_bucket

    def deleted_then_made_again(s3: Any, location: Location) -> None:
        real_delete(s3, location)
        if location.bucket == NAME:
            app.create_bucket(
                Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )

    monkeypatch.setattr(coordinator.migration, "delete_bucket", deleted_then_made_again)
    owner = role_arn(SOURCE_ACCOUNT, "owner")
    job = JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=owner),
        destination=Location(bucket=NAME, region="us-west-2", role_arn=owner),
        confirm_delete_source=True,
    )
    runner = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    submit(sqs, resources, job)
    # WHEN it runs
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stopped at the name, saying the bucket is not its own, nothing copied into it
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and "this job cannot tell it made it" in record.error
    assert app.get_bucket_location(Bucket=NAME)["LocationConstraint"] == "eu-west-1"
    assert objects_of(app, NAME) == {}
    # (on the first cut it succeeded, copying into that bucket, left in the wrong region)
