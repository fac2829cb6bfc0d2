"""Breaks found by an outside review of the same-name migration, each kept as a test that
failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, SOURCE_ACCOUNT, Account, role_arn
from test_migration import (
    NAME,
    OBJECTS,
    migration,
    objects_of,
    run_until_ended,
    serve_until,
    source,
    submit,
)

import coordinator.jobs
import coordinator.migration
import coordinator.verify
from coordinator.migration import Migration
from s3migrator.aws import Aws
from s3migrator.errors import AccessDeniedError
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources

__all__ = ["source"]
KEY = "nested/b.txt"
B = OBJECTS[KEY]  # what the first copy copied
A = b"ALPHA" * 10  # same size, other bytes

PHOTOS = "photos-archive"
OWNER = role_arn(SOURCE_ACCOUNT, "owner")
SMALL = {"a.txt": b"alpha", "b.txt": b"bravo" * 10, "c.txt": b"charlie" * 3}


def same_account_job(job_id: str, **fields: Any) -> JobMessage:
    """A migration of PHOTOS within its account, from eu-west-1 to us-west-2."""
    return JobMessage(
        job_id=job_id,
        mode=Mode.MIGRATE,
        source=Location(bucket=PHOTOS, region="eu-west-1", role_arn=OWNER),
        destination=Location(bucket=PHOTOS, region="us-west-2", role_arn=OWNER),
        **fields,
    )


def test_an_object_rewritten_around_the_verification_is_never_deleted_without_its_copy(
    aws: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a writer that puts A before the deletion's verification lists the source, B (the
    # copied bytes) back before the content is compared, and A again once it is verified
    assert len(A) == len(B)
    real_sizes, real_verify = coordinator.verify._sizes, coordinator.migration.verify
    real_delete = coordinator.migration.delete_verified
    events: list[str] = []
    in_delete_verify = [False]

    def sizes(s3: Any, location: Any, side: str, *a: Any, **kw: Any) -> Any:
        if in_delete_verify[0] and side == "source":
            source.put_object(Bucket=NAME, Key=KEY, Body=A)
            events.append("writer: A before the listing")
            listed = real_sizes(s3, location, side, *a, **kw)
            events.append(f"listing saw ETag {listed[KEY][1]}")
            source.put_object(Bucket=NAME, Key=KEY, Body=B)
            events.append("writer: B after the listing (before the content is compared)")
            return listed
        return real_sizes(s3, location, side, *a, **kw)

    def verify(*a: Any, **kw: Any) -> Any:
        if "agreed" in kw and not events:
            in_delete_verify[0] = True
            try:
                return real_verify(*a, **kw)
            finally:
                in_delete_verify[0] = False
        return real_verify(*a, **kw)

    def delete_verified(s3: Any, location: Any, agreed: Any, **kw: Any) -> Any:
        if not any("after verification" in e for e in events):
            events.append(f"agreed for {KEY}: {dict(agreed).get(KEY)}")
            source.put_object(Bucket=NAME, Key=KEY, Body=A)
            events.append("writer: A again, after verification")
        return real_delete(s3, location, agreed, **kw)

    monkeypatch.setattr(coordinator.verify, "_sizes", sizes)
    monkeypatch.setattr(coordinator.migration, "verify", verify)
    monkeypatch.setattr(coordinator.migration, "delete_verified", delete_verified)
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1)
    submit(sqs, resources, migration(confirm_delete_source=True))
    run_until_ended(aws, sqs, store, resources, runner)
    # WHEN the confirmed migration runs
    # THEN the source is read as it was listed (If-Match its listed ETag): the change shows, the
    # job stops before deleting anything, and the source keeps the key
    record = store.get_job("mig-1")
    assert record is not None and record.state is JobState.FAILED, record
    assert record.error is not None and KEY in record.error and "no longer matches" in record.error
    assert not any("after verification" in event for event in events), events
    assert set(objects_of(source, NAME)) == set(OBJECTS)


def test_a_second_migration_of_one_source_deletes_nothing_of_the_first_ones_result(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two confirmed migrations of one bucket to another region of its account, the
    # second slow to reach its deletion: the first one ends meanwhile
    s3 = Account.enter(aws.session, SOURCE_ACCOUNT, "eu-west-1").client("s3")
    s3.create_bucket(Bucket=PHOTOS, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key, body in SMALL.items():
        s3.put_object(Bucket=PHOTOS, Key=key, Body=body)
    runner = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    other = make_coordinator(allowed_accounts=SOURCE_ACCOUNT, migration_poll_s=1)
    real = Migration._delete_source
    log: list[str] = []

    def slow_second(self: Migration, spec: Any, state: Any) -> Any:
        if self.record.job_id == "mig-2" and not log:
            log.append("mig-2 reaches deleting_source; its run is slow, mig-1 goes on")
            serve_until(
                aws, sqs, store, resources, other, lambda: store.get_job("mig-1").state.is_final
            )
            log.append(f"mig-1: {store.get_job('mig-1').state.value}")
        return real(self, spec, state)

    monkeypatch.setattr(Migration, "_delete_source", slow_second)
    submit(sqs, resources, same_account_job("mig-1", confirm_delete_source=True))
    submit(sqs, resources, same_account_job("mig-2", confirm_delete_source=True))
    serve_until(
        aws,
        sqs,
        store,
        resources,
        runner,
        lambda: all(
            store.get_job(j) and store.get_job(j).state.is_final for j in ("mig-1", "mig-2")
        ),
    )
    s3 = Account.enter(aws.session, SOURCE_ACCOUNT, "us-west-2").client("s3")
    m1, m2 = store.get_job("mig-1"), store.get_job("mig-2")
    # THEN the first one succeeded, and the second stopped before deleting a thing of it
    assert m1 is not None and m2 is not None
    # (stopped at the region check of its deletion, or, when mig-1 emptied the source before
    # mig-2's run reached its deletion at all, at the verification before it: either way,
    # before deleting anything)
    assert m2.state is JobState.FAILED
    assert "not the source any more" in (m2.error or "") or (
        "differs from s3://photos-archive/" in (m2.error or "") and "the source is kept" in m2.error
    )
    assert m1.state is JobState.SUCCEEDED
    assert objects_of(s3, PHOTOS) == SMALL, "mig-2 deleted the migrated bucket's objects"


def test_a_step_that_fails_each_time_it_is_taken_up_fails_the_job_after_max_resumes(
    aws: Aws,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_coordinator: Any,
    source: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a confirmed migration whose source's version purge is always denied (an SCP, say),
    # a stack that gives up after two failed resumes, and no backoff (to save the test's time)
    attempts: list[int] = []
    runner = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=1, max_resumes=2)

    def always_denied(s3: Any, location: Any, **kw: Any) -> int:
        record = store.get_job("mig-1")
        assert record is not None
        attempts.append(record.resumes)
        if len(attempts) >= 8:
            # The retries would never end by themselves, nor would serving a queue that
            # always holds the next resume: stop serving.
            runner.stop.set()
        raise AccessDeniedError("AccessDenied", "s3:DeleteObjectVersion denied", 403)

    monkeypatch.setattr(coordinator.migration, "purge_versions", always_denied)
    monkeypatch.setattr(coordinator.jobs, "backoff_s", lambda *a, **k: 0)
    submit(sqs, resources, migration(confirm_delete_source=True))

    def ended_or_stopped() -> bool:
        record = store.get_job("mig-1")
        return runner.stop.is_set() or (record is not None and record.state.is_final)

    serve_until(aws, sqs, store, resources, runner, ended_or_stopped, limit_s=90)
    # THEN the job failed after a few attempts with the denial as its reason, the source kept
    rec = store.get_job("mig-1")
    assert rec is not None and rec.state is JobState.FAILED, (attempts, rec)
    assert len(attempts) < 8 and "s3:DeleteObjectVersion denied" in (rec.error or ""), rec.error
    assert NAME in Account.enter(aws.session, SOURCE_ACCOUNT).bucket_names()
