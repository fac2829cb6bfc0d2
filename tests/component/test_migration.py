"""A same-name migration across two accounts, driven the way the stack drives it: the
coordinator takes its messages from the jobs queue (the job's, its copy steps' and its own
delayed resumes), copiers drain the work queue, and the progress run finishes the copy steps.

The source is deleted only after its copy is verified and only when the job confirms it; a
difference planted in the temporary bucket stops the job with the source intact."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account, role_arn
from copier_drain import drain

import coordinator.migration
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.migration_state import temporary_bucket
from s3migrator.models import JobMessage, JobRecord, JobState, Location, Mode, Phase
from s3migrator.resources import Resources
from s3migrator.settings import MiB, Settings

SOURCE_ROLE = role_arn(SOURCE_ACCOUNT, "owner")
DESTINATION_ROLE = role_arn(DESTINATION_ACCOUNT, "migrator")
NAME = "photos-archive"
TEMPORARY = temporary_bucket(NAME, "mig-1")
OBJECTS = {
    "a.txt": b"alpha",
    "nested/b.txt": b"bravo" * 10,
    "big.bin": os.urandom(9 * MiB + 1),  # copied in parts
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadersOfTheOwningAccount",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{SOURCE_ACCOUNT}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{NAME}/*",
        }
    ],
}


def migration(**fields: Any) -> JobMessage:
    return JobMessage(
        job_id="mig-1",
        mode=Mode.MIGRATE,
        source=Location(bucket=NAME, region="eu-west-1", role_arn=SOURCE_ROLE),
        destination=Location(bucket=NAME, region="us-west-2", role_arn=DESTINATION_ROLE),
        **fields,
    )


@pytest.fixture
def source(aws: Aws) -> Any:
    """The bucket to migrate, in the source account in eu-west-1, with objects, tags and a
    policy naming its account."""
    s3 = Account.enter(aws.session, SOURCE_ACCOUNT, "eu-west-1").client("s3")
    s3.create_bucket(Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key, body in OBJECTS.items():
        s3.put_object(Bucket=NAME, Key=key, Body=body)
    s3.put_bucket_tagging(Bucket=NAME, Tagging={"TagSet": [{"Key": "team", "Value": "media"}]})
    s3.put_bucket_policy(Bucket=NAME, Policy=json.dumps(POLICY))
    return s3


def submit(sqs: Any, resources: Resources, job: JobMessage) -> None:
    """Send the job message to the jobs queue, as a client would."""
    sqs.send_message(
        QueueUrl=resources.jobs_queue_url, MessageBody=job.model_dump_json(exclude_defaults=True)
    )


def run_until_ended(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    coordinator_: Any,
    between: Callable[[JobRecord], None] | None = None,
    limit_s: float = 90,
) -> list[tuple[Phase, int]]:
    """Serve the jobs queue, drain the work queue and refresh progress until the migration
    ends; returns each (phase, percent) it was seen at. ``between`` looks in after each round."""
    seen: list[tuple[Phase, int]] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        coordinator_.serve(once=True)
        drain(aws, resources, store)
        refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
        record = store.get_job("mig-1")
        assert record is not None
        if not seen or seen[-1] != (record.phase, record.percent):
            seen.append((record.phase, record.percent))
        if record.state.is_final:
            return seen
        if between is not None:
            between(record)
        time.sleep(0.2)  # the migration's resumes are delayed a second
    raise AssertionError(f"the migration did not end: {seen}")


def serve_until(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    coordinator_: Any,
    done: Callable[[], bool],
    limit_s: float = 60,
) -> None:
    """Serve the jobs queue (looking at ``done`` as soon as a round of it returns, before
    anything else moves), drain the work queue and refresh progress, until ``done``."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        coordinator_.serve(once=True)
        if done():
            return
        drain(aws, resources, store)
        refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
        time.sleep(0.2)  # the migration's resumes are delayed a second
    raise AssertionError("timed out")


def objects_of(s3: Any, bucket: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_a_bucket_moves_to_another_account_under_its_name(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a migration that confirms the source's deletion
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    # WHEN the stack runs it to its end
    seen = run_until_ended(aws, sqs, store, resources, runner)
    # THEN it succeeded, its percent walking the migration's table and never back
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    phases = [phase for phase, _ in seen]
    assert Phase.WAITING_FOR_NAME in phases or Phase.COPYING_BACK in phases
    # AND the bucket is in the destination account, in its region, with every object
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert destination.get_bucket_location(Bucket=NAME)["LocationConstraint"] == "us-west-2"
    assert objects_of(destination, NAME) == OBJECTS
    # AND its configuration came with it, the policy naming the new account
    assert destination.get_bucket_tagging(Bucket=NAME)["TagSet"] == [
        {"Key": "team", "Value": "media"}
    ]
    policy = json.loads(destination.get_bucket_policy(Bucket=NAME)["Policy"])
    principal = policy["Statement"][0]["Principal"]["AWS"]
    assert principal == f"arn:aws:iam::{DESTINATION_ACCOUNT}:root"
    # AND the source account no longer has it, and the temporary bucket is gone
    assert NAME not in Account.enter(aws.session, SOURCE_ACCOUNT).bucket_names()
    assert TEMPORARY not in Account.enter(aws.session, DESTINATION_ACCOUNT).bucket_names()
    # AND both copy steps were jobs of their own that succeeded
    for step in ("mig-1.1", "mig-1.2"):
        copied = store.get_job(step)
        assert copied is not None and copied.state is JobState.SUCCEEDED
        assert copied.counters.objects_copied == len(OBJECTS)


def test_without_confirmation_it_stops_with_the_copy_verified_and_the_source_kept(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a migration that does not confirm the source's deletion
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration())
    # WHEN it runs
    run_until_ended(aws, sqs, store, resources, runner)
    # THEN it stopped after the first copy, saying what to do, at most at 49%
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and '"confirm_delete_source": true' in record.error
    assert record.percent <= 49
    # AND the source is whole, and its copy waits in the temporary bucket
    assert objects_of(source, NAME) == OBJECTS
    temporary = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(temporary, TEMPORARY) == OBJECTS


def test_a_difference_in_the_temporary_bucket_stops_the_job_and_keeps_the_source(
    aws: Aws, sqs: Any, store: JobStore, resources: Resources, make_coordinator: Any, source: Any
) -> None:
    # GIVEN a confirmed migration, and someone who changes an object of the temporary bucket
    # once the first copy step has succeeded, before the migration verifies it
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    temporary = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    planted: list[str] = []

    def plant(record: JobRecord) -> None:
        step = store.get_job("mig-1.1")
        if not planted and step is not None and step.state is JobState.SUCCEEDED:
            temporary.put_object(Bucket=TEMPORARY, Key="a.txt", Body=b"ALPHA")
            planted.append("a.txt")

    # WHEN it runs
    run_until_ended(aws, sqs, store, resources, runner, between=plant)
    # THEN it stopped, naming the difference, and not one source object was deleted
    record = store.get_job("mig-1")
    assert planted == ["a.txt"]
    assert record is not None and record.state is JobState.FAILED
    assert record.error is not None and "checksum a.txt" in record.error, record.error
    assert "the source is kept" in record.error
    assert objects_of(source, NAME) == OBJECTS


def test_a_name_taken_meanwhile_is_waited_for_until_it_is_free(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration, and a third account that takes the name the moment the
    # source is deleted, and lets it go after the migration has found it taken three times
    squatter = Account.enter(aws.session, "333333333333", "us-east-1").client("s3")
    real_delete = coordinator.migration.delete_bucket

    def deleted_then_taken(s3: Any, location: Location) -> None:
        real_delete(s3, location)
        if location.bucket == NAME:
            squatter.create_bucket(Bucket=NAME)

    monkeypatch.setattr(coordinator.migration, "delete_bucket", deleted_then_taken)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    attempts: list[int] = []

    def release_after_three(record: JobRecord) -> None:
        state = record.migration
        if state is not None and state.name_attempts and state.name_attempts not in attempts:
            attempts.append(state.name_attempts)
            if state.name_attempts == 3:
                squatter.delete_bucket(Bucket=NAME)

    # WHEN it runs (its retries of the name shortened to a second)
    monkeypatch.setattr(coordinator.migration, "name_retry_s", lambda attempts, first_s: 1)
    seen = run_until_ended(aws, sqs, store, resources, runner, between=release_after_three)
    # THEN it waited at 50% through three refusals, then finished with every object
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.SUCCEEDED, record and record.error
    assert attempts == [1, 2, 3]
    assert (Phase.WAITING_FOR_NAME, 50) in seen
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS
