"""A waiting migration's resume messages come twice, early or late, as SQS may deliver them:
a duplicate while its copy step runs, duplicates while it waits for its name, a resume after it
ended. None does a step twice or undoes one, and none counts as an attempt at the name.

Deterministic: the coordinator handles one jobs-queue message at a time, and SQS's delays run
on the test's clock (the store's), so a delayed resume arrives when the test moves the clock to
its due time, never by waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import moto.sqs.models
import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from copier_drain import drain
from moto_helpers import depth
from test_migration import (
    NAME,
    OBJECTS,
    TEMPORARY,
    migration,
    objects_of,
    source,
    submit,
)

import coordinator.migration
from coordinator.bucket_removal import delete_bucket
from coordinator.buckets import bucket_exists
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.migration_state import MigrationState
from s3migrator.models import JobRecord, JobState, Location, Phase
from s3migrator.notes import ResumeMessage
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.sqs.queues import send_resume

__all__ = ["source"]  # the fixture, shared with test_migration.py
MIGRATION = "mig-1"
STEPS = ("mig-1.1", "mig-1.2")
SQUATTER = "333333333333"
# What the migration's record says once it succeeded: the source's policy, rewritten.
NOTES = f"policy: 1 reference to account {SOURCE_ACCOUNT} now name {DESTINATION_ACCOUNT}"


def resume_of(job_id: str) -> str:
    return ResumeMessage(resume=job_id).model_dump_json()


@pytest.fixture
def queue_clock(clock: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test's clock, which SQS's message delays (and visibility timeouts) now run on too."""
    monkeypatch.setattr(moto.sqs.models, "unix_time_millis", lambda *_: clock() * 1000.0)
    return clock


class Stack:
    """The stack driven one message at a time: the coordinator handles the jobs queue's visible
    messages in order, copiers drain the work queue, the progress run refreshes."""

    def __init__(
        self, aws: Aws, sqs: Any, store: JobStore, resources: Resources, coordinator_: Any
    ) -> None:
        self.aws, self.sqs, self.store, self.resources = aws, sqs, store, resources
        self.coordinator = coordinator_
        self.handled: list[str] = []  # the bodies of the jobs queue's messages, as handled

    def resume(self, job_id: str = MIGRATION) -> None:
        """A resume message nobody scheduled (a duplicate), visible at once."""
        send_resume(self.sqs, self.resources.jobs_queue_url, job_id, delay_s=0)

    def settle(self) -> list[str]:
        """Handle every visible jobs-queue message, one at a time; their bodies."""
        bodies: list[str] = []
        while True:
            received = self.sqs.receive_message(
                QueueUrl=self.resources.jobs_queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["SenderId"],
            ).get("Messages", [])
            if not received:
                self.handled += bodies
                return bodies
            self.coordinator.handle(received[0])
            bodies.append(received[0]["Body"])

    def copy_and_refresh(self) -> None:
        drain(self.aws, self.resources, self.store)
        refresh(self.store, self.sqs, self.resources, settings=Settings(stack_name="s3migrator"))

    def job(self, job_id: str = MIGRATION) -> JobRecord:
        record = self.store.get_job(job_id)
        assert record is not None
        return record

    def resume_falls_due(self, clock: Any) -> None:
        """Move the clock just past the migration's resume's due time: SQS delivers it."""
        due = self.job().resume_due
        assert due is not None
        clock.advance(max(0.0, due - clock()) + 1)

    def run(
        self, clock: Any, until: Callable[[JobRecord], bool] = lambda r: r.state.is_final
    ) -> JobRecord:
        """Rounds of messages, copies and progress, each delayed resume falling due in turn."""
        for _ in range(20):
            self.settle()
            self.copy_and_refresh()
            record = self.job()
            if until(record):
                return record
            self.resume_falls_due(clock)
        raise AssertionError(f"not there after 20 rounds: {self.job()}")


@pytest.fixture
def stack(aws: Aws, sqs: Any, store: JobStore, resources: Resources, source: Any) -> Any:
    return lambda coordinator_: Stack(aws, sqs, store, resources, coordinator_)


def state_of(record: JobRecord) -> MigrationState:
    assert record.migration is not None
    return record.migration


def table_items(aws: Aws, resources: Resources) -> list[dict[str, Any]]:
    """Every item of the job table, as stored, in key order."""
    items = aws.dynamodb().scan(TableName=resources.table_name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def bucket_names(aws: Aws) -> dict[str, set[str]]:
    return {
        account: Account.enter(aws.session, account).bucket_names()
        for account in (SOURCE_ACCOUNT, DESTINATION_ACCOUNT, SQUATTER)
    }


@pytest.mark.parametrize(
    ("poll_s", "duplicate_taken", "resumes"),
    [(60, False, 3), (10, True, 5)],
    ids=["duplicate-early-ignored", "duplicate-within-skew-taken"],
)
def test_a_duplicate_resume_while_the_copy_step_runs_launches_no_second_copy_step(
    aws: Aws,
    make_coordinator: Any,
    stack: Any,
    queue_clock: Any,
    poll_s: int,
    duplicate_taken: bool,
    resumes: int,
) -> None:
    # GIVEN a confirmed migration waiting for its first copy step, which is listed and not
    # copied yet, a resume scheduled ``poll_s`` ahead
    run = stack(make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=poll_s))
    job = migration(confirm_delete_source=True)
    submit(run.sqs, run.resources, job)
    assert run.settle() == [job.model_dump_json(exclude_defaults=True), resume_of("mig-1.1")]
    waiting, step = run.job(), run.job("mig-1.1")
    assert waiting.phase is Phase.COPYING_TO_TEMPORARY and waiting.resume_due is not None
    assert (step.listing.complete, step.listing.objects, step.counters.objects_copied) == (
        True,
        len(OBJECTS),
        0,
    )
    # WHEN a duplicate of the scheduled resume arrives first, and is handled before it
    run.resume()
    assert run.settle() == [resume_of(MIGRATION)]
    # THEN beyond the clocks' skew it is ignored, the record untouched; within it, the run
    # looks at the step, still running, and waits again, launching nothing
    after = run.job()
    if duplicate_taken:
        assert after.phase is Phase.COPYING_TO_TEMPORARY and after.state is JobState.RUNNING
        assert after.resume_due is not None and after.resume_due > waiting.resume_due
        assert after.migration == waiting.migration
    else:
        assert after.model_dump() == waiting.model_dump()
    assert [job.job_id for job in run.store.list_jobs()] == [MIGRATION, "mig-1.1"]
    # WHEN the stack runs it to its end, the scheduled resume arriving when due
    run.copy_and_refresh()
    record = run.run(queue_clock)
    # THEN it succeeded, and each copy step was one job, launched once, its counts exact
    assert record.state is JobState.SUCCEEDED, record.error
    assert (record.percent, record.error) == (100, NOTES)
    assert sorted(job.job_id for job in run.store.list_jobs()) == [MIGRATION, *STEPS]
    # (the migration's own resumes: the duplicate and the two scheduled; when the duplicate
    # was taken, its own wait's resume too: a second line of resumes until the end)
    assert run.handled.count(resume_of(MIGRATION)) == resumes
    for step_id in STEPS:
        assert run.handled.count(resume_of(step_id)) == 1
        copied = run.job(step_id)
        assert copied.state is JobState.SUCCEEDED
        assert copied.listing.objects == len(OBJECTS)
        assert copied.counters.objects_copied == len(OBJECTS)
        assert (copied.counters.objects_failed, copied.counters.objects_deleted) == (0, 0)
        assert copied.counters.bytes_copied == sum(len(body) for body in OBJECTS.values())
        assert copied.counters.batches_done == copied.listing.next_seq
    # AND every object is in the destination bucket; the source and the temporary are gone
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS
    names = bucket_names(aws)
    assert NAME not in names[SOURCE_ACCOUNT] and TEMPORARY not in names[DESTINATION_ACCOUNT]


def test_duplicate_resumes_while_the_name_is_waited_for_count_no_attempts(
    aws: Aws,
    make_coordinator: Any,
    stack: Any,
    queue_clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration whose name a third account takes the moment the source is
    # deleted, and every real attempt at the name (a look at it in the destination) counted
    squatter = Account.enter(aws.session, SQUATTER, "us-east-1").client("s3")
    tries: list[float] = []

    def deleted_then_taken(s3: Any, location: Location) -> None:
        delete_bucket(s3, location)
        if location.bucket == NAME:
            squatter.create_bucket(Bucket=NAME)

    def counted(s3: Any, location: Location) -> bool:
        if (location.bucket, location.region) == (NAME, "us-west-2"):
            tries.append(queue_clock())
        return bucket_exists(s3, location)

    monkeypatch.setattr(coordinator.migration, "delete_bucket", deleted_then_taken)
    monkeypatch.setattr(coordinator.migration, "bucket_exists", counted)
    run = stack(make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=60))
    submit(run.sqs, run.resources, migration(confirm_delete_source=True))
    first = run.run(queue_clock, until=lambda r: r.phase is Phase.WAITING_FOR_NAME)
    # (its first attempt refused, the next due a minute on: beyond the clocks' skew)
    assert (state_of(first).name_attempts, len(tries)) == (1, 1)
    assert first.resume_due is not None and first.resume_due - queue_clock() > 30
    # WHEN two duplicate resumes arrive before the scheduled one
    run.resume()
    run.resume()
    assert run.settle() == [resume_of(MIGRATION)] * 2
    # THEN both are ignored: no attempt, the record untouched
    assert (state_of(run.job()).name_attempts, len(tries)) == (1, 1)
    assert run.job().model_dump() == first.model_dump()
    # WHEN the scheduled resume falls due and a duplicate arrives with it
    run.resume_falls_due(queue_clock)
    run.resume()
    assert run.settle() == [resume_of(MIGRATION)] * 2
    # THEN one real attempt is made, refused, and the next put off two minutes
    second = run.job()
    assert (state_of(second).name_attempts, len(tries)) == (2, 2)
    assert second.phase is Phase.WAITING_FOR_NAME and second.percent == 50
    assert second.resume_due is not None and second.resume_due - queue_clock() > 110
    # WHEN one more duplicate arrives early, and then the name is let go
    run.resume()
    assert run.settle() == [resume_of(MIGRATION)]
    assert run.job().model_dump() == second.model_dump()
    squatter.delete_bucket(Bucket=NAME)
    record = run.run(queue_clock)
    # THEN the third real attempt takes the name: two refusals counted, not one per message
    assert record.state is JobState.SUCCEEDED, record.error
    assert (state_of(record).name_attempts, len(tries)) == (2, 3)
    assert run.handled.count(resume_of(MIGRATION)) == 8
    # AND every object is in the destination bucket, under its name
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT, "us-west-2").client("s3")
    assert objects_of(destination, NAME) == OBJECTS


def test_a_late_resume_after_the_migration_succeeded_changes_nothing(
    aws: Aws, make_coordinator: Any, stack: Any, queue_clock: Any
) -> None:
    # GIVEN a migration that succeeded, and what the records and the accounts' buckets are
    run = stack(make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=60))
    submit(run.sqs, run.resources, migration(confirm_delete_source=True))
    ended = run.run(queue_clock)
    assert ended.state is JobState.SUCCEEDED, ended.error
    assert (ended.percent, ended.error) == (100, NOTES)
    records = {job.job_id: job.model_dump() for job in run.store.list_jobs()}
    items = table_items(aws, run.resources)
    buckets = bucket_names(aws)
    assert NAME in buckets[DESTINATION_ACCOUNT] and NAME not in buckets[SOURCE_ACCOUNT]
    assert depth(run.sqs, run.resources.jobs_queue_url) == 0
    # WHEN resumes arrive late: one delayed as long as SQS allows, then the migration's and its
    # copy steps' at once
    send_resume(run.sqs, run.resources.jobs_queue_url, MIGRATION, delay_s=900)
    queue_clock.advance(901)
    for job_id in (MIGRATION, *STEPS):
        run.resume(job_id)
    assert run.settle() == [resume_of(job_id) for job_id in (MIGRATION, MIGRATION, *STEPS)]
    run.copy_and_refresh()
    # THEN every record is as it was: succeeded at 100%, its notes and migration state the same
    assert {job.job_id: job.model_dump() for job in run.store.list_jobs()} == records
    record = run.job()
    assert (record.state, record.phase, record.percent, record.error) == (
        JobState.SUCCEEDED,
        Phase.FINISHED,
        100,
        NOTES,
    )
    assert record.migration == ended.migration
    # AND not one item of the table was written, not even a lease taken and let go
    assert table_items(aws, run.resources) == items
    # AND no bucket was created or deleted, and the messages are gone with nothing sent
    assert bucket_names(aws) == buckets
    assert depth(run.sqs, run.resources.jobs_queue_url) == 0
