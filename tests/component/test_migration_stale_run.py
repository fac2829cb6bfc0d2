"""A run of a migration that stalls while deleting the source, past its lease, does no harm when
it wakes: another run has meanwhile finished the migration within one account (the name is the
new bucket by then), and the stalled run neither purges nor deletes it (a review proved it did,
on the migration's first cut: every object lost, the job succeeded)."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import SOURCE_ACCOUNT, Account, role_arn
from test_migration import NAME, OBJECTS, objects_of, run_until_ended, source

import coordinator.migration
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources

__all__ = ["source"]  # the fixture, shared with test_migration.py


def test_a_stalled_deletion_run_does_not_delete_the_bucket_another_run_finished(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a migration within one account, eu-west-1 to us-west-2, whose run stalls for an
    # hour just as it purges the source, while another coordinator takes the job over and
    # finishes it
    real_purge = coordinator.migration.purge_versions
    stalled: list[JobState | None] = []
    other = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)

    def stalls_once(s3: Any, location: Location, **kw: Any) -> int:
        if not stalled:
            stalled.append(None)  # the other run's purge goes through
            clock.advance(3600)  # this run's lease runs out; the watchdog sends the job on
            run_until_ended(aws, sqs, store, resources, other, limit_s=30)
            record = store.get_job("mig-1")
            assert record is not None
            stalled[0] = record.state
        return real_purge(s3, location, **kw)

    monkeypatch.setattr(coordinator.migration, "purge_versions", stalls_once)
    owner = role_arn(SOURCE_ACCOUNT, "owner")
    job = JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=owner),
        destination=Location(bucket=NAME, region="us-west-2", role_arn=owner),
        confirm_delete_source=True,
    )
    sqs.send_message(
        QueueUrl=resources.jobs_queue_url, MessageBody=job.model_dump_json(exclude_defaults=True)
    )
    # WHEN the stalled run wakes and goes on
    run_until_ended(aws, sqs, store, resources, make_coordinator(allowed_accounts=SOURCE_ACCOUNT))
    # THEN the other run had finished it, and the bucket under the name is whole in us-west-2
    assert stalled == [JobState.SUCCEEDED]
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED
    final = Account.enter(aws.session, SOURCE_ACCOUNT, "us-west-2").client("s3")
    assert final.get_bucket_location(Bucket=NAME)["LocationConstraint"] == "us-west-2"
    assert objects_of(final, NAME) == OBJECTS
