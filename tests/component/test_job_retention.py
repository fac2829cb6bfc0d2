"""Job retention: a job's item expires (DynamoDB TTL, ``expires_at``) a set time after it ends,
never while it runs, and its id stays taken once it has expired."""

from __future__ import annotations

import math
from typing import Any

import pytest
from moto_helpers import job_record

from progress.process import build_progress
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.jobstore.codec import job_key
from s3migrator.models import JobRecord, JobState
from s3migrator.resources import Resources
from s3migrator.settings import Settings

DAY_S = 86_400


@pytest.fixture
def keeping_7_days(aws: Aws, resources: Resources, clock: Any) -> JobStore:
    """A store that keeps ended jobs 7 days, on the test's clock."""
    return JobStore(aws.dynamodb(), resources.table_name, clock=clock, retention_days=7)


def stored_item(aws: Aws, resources: Resources, job_id: str) -> dict[str, Any]:
    """The job's item as the table holds it, every attribute."""
    return aws.dynamodb().get_item(  # type: ignore[no-any-return]
        TableName=resources.table_name, Key=job_key(job_id), ConsistentRead=True
    )["Item"]


def expires_at(aws: Aws, resources: Resources, job_id: str) -> int | None:
    item = stored_item(aws, resources, job_id)
    return int(item["expires_at"]["N"]) if "expires_at" in item else None


def test_a_finished_job_expires_the_settings_retention_after_it_ended(
    aws: Aws, resources: Resources
) -> None:
    # GIVEN the progress function's store, built from settings that keep ended jobs 30 days
    store = build_progress(Settings(job_retention_days=30), aws, resources).store
    store.create_job(job_record("job-1"))
    # THEN while the job runs, it does not expire
    assert expires_at(aws, resources, "job-1") is None
    # WHEN it succeeds
    assert store.finish("job-1", JobState.SUCCEEDED, 100, epoch=0)
    # THEN it expires 30 days after it ended, to the second (rounded up, never sooner)
    finished = store.get_job("job-1")
    assert finished is not None and finished.finished_at is not None
    assert expires_at(aws, resources, "job-1") == math.ceil(finished.finished_at) + 30 * DAY_S


def test_a_job_created_already_failed_expires_from_its_end(
    aws: Aws, resources: Resources, keeping_7_days: JobStore
) -> None:
    # GIVEN a message rejected as no valid job: its job is recorded failed at once
    now = keeping_7_days.now()
    rejected = JobRecord(
        job_id="bad-1",
        mode=None,
        spec=None,
        state=JobState.FAILED,
        error="invalid job message",
        created_at=now,
        updated_at=now,
        finished_at=now,
    )
    # WHEN it is recorded
    assert keeping_7_days.create_job(rejected)
    # THEN it expires 7 days after it ended
    assert expires_at(aws, resources, "bad-1") == math.ceil(now) + 7 * DAY_S


def test_a_reopened_job_does_not_expire_until_it_finishes_again(
    aws: Aws, resources: Resources, keeping_7_days: JobStore, clock: Any
) -> None:
    # GIVEN a job that completed with failures, and so expires in 7 days
    store = keeping_7_days
    store.create_job(job_record("job-1"))
    assert store.finish("job-1", JobState.COMPLETED_WITH_FAILURES, 100, epoch=0)
    first = expires_at(aws, resources, "job-1")
    assert first is not None
    # WHEN a redrive reopens it
    assert store.reopen("job-1", epoch=0, extra_batches=1, base_done=0)
    # THEN it runs again and no longer expires: TTL would otherwise delete it while it runs
    reopened = store.get_job("job-1")
    assert reopened is not None and reopened.state is JobState.RUNNING
    assert "expires_at" not in stored_item(aws, resources, "job-1")
    # WHEN it finishes again, a day later
    clock.advance(DAY_S)
    assert store.finish("job-1", JobState.SUCCEEDED, 100, epoch=1)
    # THEN it expires 7 days after that second end
    again = store.get_job("job-1")
    assert again is not None and again.finished_at is not None
    assert expires_at(aws, resources, "job-1") == math.ceil(again.finished_at) + 7 * DAY_S
    # (a day and the moments the test took later than the first: the clock is real time)
    assert expires_at(aws, resources, "job-1") >= first + DAY_S


def test_a_reopen_that_loses_its_race_leaves_the_expiry_as_it_was(
    aws: Aws, resources: Resources, keeping_7_days: JobStore
) -> None:
    # GIVEN a job that completed with failures and was reopened and finished again (epoch 1)
    store = keeping_7_days
    store.create_job(job_record("job-1"))
    store.finish("job-1", JobState.COMPLETED_WITH_FAILURES, 100, epoch=0)
    store.reopen("job-1", epoch=0, extra_batches=1, base_done=0)
    store.finish("job-1", JobState.COMPLETED_WITH_FAILURES, 100, epoch=1)
    before = stored_item(aws, resources, "job-1")
    # WHEN a redrive that read the first run (epoch 0) tries to reopen it
    reopened = store.reopen("job-1", epoch=0, extra_batches=1, base_done=0)
    # THEN nothing changes: the job still expires as its last end said
    assert reopened is False
    assert stored_item(aws, resources, "job-1") == before


def test_an_expired_job_id_stays_taken(
    aws: Aws, resources: Resources, keeping_7_days: JobStore
) -> None:
    # GIVEN a job that ended and whose item DynamoDB's TTL has since deleted
    store = keeping_7_days
    assert store.create_job(job_record("job-1"))
    store.finish("job-1", JobState.SUCCEEDED, 100, epoch=0)
    aws.dynamodb().delete_item(TableName=resources.table_name, Key=job_key("job-1"))
    assert store.get_job("job-1") is None
    # WHEN a message names that id again
    created = store.create_job(job_record("job-1"))
    # THEN no new job starts under it: its batches and counters are still in the table
    assert created is False
    assert store.get_job("job-1") is None
