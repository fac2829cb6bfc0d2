"""A run that stalls in the middle of deleting a same-account migration's source, and wakes
after another run has gone on, deletes nothing of the bucket the job made under the name.

Within one account the new bucket has the source's name, owner and ETags: neither the
expected owner nor ``IfMatch`` tells them apart. Its region does: the source's deletions are
signed for the source's region and never redirected, and S3 carries out no request signed for
another region than the bucket's."""

from __future__ import annotations

import time
from typing import Any

import pytest
from accounts import SOURCE_ACCOUNT, Account, role_arn
from botocore.exceptions import ClientError
from test_migration import objects_of, run_until_ended, serve_until, submit

import coordinator.migration
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.aws_errors import translate
from s3migrator.errors import WrongRegionError
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobMessage, JobState, Location, Mode, Phase
from s3migrator.resources import Resources
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings

NAME = "photos-archive"
OWNER = role_arn(SOURCE_ACCOUNT, "owner")
SMALL = {"a.txt": b"alpha", "b.txt": b"bravo" * 10, "c.txt": b"charlie" * 3}


def same_account_job(**fields: Any) -> JobMessage:
    """A migration of NAME within its account, from eu-west-1 to us-west-2."""
    return JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=OWNER),
        destination=Location(bucket=NAME, region="us-west-2", role_arn=OWNER),
        **fields,
    )


def in_region(aws: Aws, region: str) -> Any:
    return Account.enter(aws.session, SOURCE_ACCOUNT, region).client("s3")


@pytest.fixture
def source(aws: Aws) -> Any:
    s3 = in_region(aws, "eu-west-1")
    s3.create_bucket(Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key, body in SMALL.items():
        s3.put_object(Bucket=NAME, Key=key, Body=body)
    return s3


def test_a_pinned_client_cannot_delete_from_a_bucket_of_the_name_in_another_region(
    aws: Aws, source: Any
) -> None:
    # GIVEN the bucket in eu-west-1, a client pinned to us-west-2 and an ordinary one there
    clients = s3_clients(aws, Settings(stack_name="s3migrator"))
    location = Location(bucket=NAME, region="us-west-2", role_arn=OWNER)
    job = same_account_job()
    spec = CopySpec(job_id="mig-1", source=job.source, destination=job.destination)
    pinned = clients.pinned(location, spec, "us-west-2")
    ordinary = clients.for_location(location, spec)
    # WHEN the pinned one deletes an object THEN S3 refuses it and the object stays
    with pytest.raises(ClientError) as refused:
        pinned.delete_object(Bucket=NAME, Key="a.txt")
    assert isinstance(translate(refused.value), WrongRegionError)
    assert refused.value.response["Error"].get("Region") == "eu-west-1"
    assert objects_of(source, NAME) == SMALL
    # WHEN the ordinary one does THEN it follows S3 to the bucket's region, as boto3 does
    ordinary.delete_object(Bucket=NAME, Key="a.txt")
    assert sorted(objects_of(source, NAME)) == ["b.txt", "c.txt"]


def test_a_stale_run_waking_in_the_deletion_deletes_nothing_of_the_migrated_bucket(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that passes its lease check in the deletion and stalls there, while another
    # coordinator takes the job up and finishes the whole migration
    runner = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    other = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    real = coordinator.migration.delete_verified
    log: list[str] = []

    def stalling(s3: Any, location: Any, agreed: Any, keep_going: Any) -> int:
        def keep() -> None:
            keep_going()
            if not log:
                log.append("stalled")  # the other run's deletion goes on without stalling
                runner.stop.set()  # the stalled coordinator takes no more messages
                settings = Settings()
                clock.advance(settings.lease_s + settings.resume_grace_s + 1)
                run_until_ended(aws, sqs, store, resources, other)
                record = store.get_job("mig-1")
                assert record is not None
                log.append(record.state.value)

        return real(s3, location, agreed, keep_going=keep)

    monkeypatch.setattr(coordinator.migration, "delete_verified", stalling)
    submit(sqs, resources, same_account_job(confirm_delete_source=True))
    # WHEN the stalled run wakes and goes on deleting (serving returns once it has ended)
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))
    # THEN the other run had finished, and the migrated bucket keeps every object
    assert log == ["stalled", "succeeded"]
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert objects_of(in_region(aws, "us-west-2"), NAME) == SMALL


def test_a_stale_run_waking_before_deleting_the_bucket_leaves_the_new_bucket(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a run that stalls just before DeleteBucket of the emptied source, while another
    # coordinator takes the job up, deletes the source and makes the bucket in us-west-2
    runner = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    other = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    real = coordinator.migration.delete_bucket
    log: list[str] = []

    def stalling(s3: Any, location: Any) -> None:
        if location.bucket == NAME and not log:
            log.append("stalled")  # the other run's deletion goes on without stalling
            runner.stop.set()  # the stalled coordinator takes no more messages
            settings = Settings()
            clock.advance(settings.lease_s + settings.resume_grace_s + 1)
            for _ in range(100):
                refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
                other.serve(once=True)  # no copier drains: the copy back does not end
                record = store.get_job("mig-1")
                assert record is not None
                if record.phase in (Phase.DESTINATION_CREATED, Phase.COPYING_BACK):
                    break
                time.sleep(0.2)
            where = in_region(aws, "us-west-2").get_bucket_location(Bucket=NAME)
            log.append(where["LocationConstraint"])
        real(s3, location)

    monkeypatch.setattr(coordinator.migration, "delete_bucket", stalling)
    submit(sqs, resources, same_account_job(confirm_delete_source=True))
    # WHEN the stalled run wakes and deletes the bucket of the name, and the job runs on
    serve_until(aws, sqs, store, resources, runner, lambda: bool(log))  # the stalled run ended
    runner.stop.clear()
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN the name was the new bucket's by then, the stale deletion was refused, and the
    # migration ended whole
    assert log == ["stalled", "us-west-2"]
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert objects_of(in_region(aws, "us-west-2"), NAME) == SMALL
