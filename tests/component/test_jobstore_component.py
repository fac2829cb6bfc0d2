"""The DynamoDB job store against the deployed table: idempotent jobs, exact counters, lease."""

from __future__ import annotations

import pytest
from moto_helpers import counted_batch, job_record

from coordinator.batching import pack
from s3migrator.errors import LeaseLostError
from s3migrator.failures import CUT_MARK, MAX_FAILURE_MESSAGE, FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, ListingCheckpoint, Phase
from s3migrator.work import BatchOutcome, WorkItem


def test_creating_the_same_job_twice_returns_false_the_second_time(store: JobStore) -> None:
    # GIVEN a job record
    record = job_record("job-1")
    # WHEN it is created twice
    first, second = store.create_job(record), store.create_job(record)
    # THEN only the first create wins and the job exists once, running, at 0 %
    assert (first, second) == (True, False)
    stored = store.get_job("job-1")
    assert stored is not None
    assert (stored.state, stored.phase, stored.percent) == (JobState.RUNNING, Phase.STARTED, 0)
    assert stored.spec == record.spec
    assert [j.job_id for j in store.list_jobs()] == ["job-1"]


def test_get_job_of_an_unknown_id_is_none(store: JobStore) -> None:
    assert store.get_job("nope") is None


def test_redelivered_batch_is_counted_once(store: JobStore) -> None:
    # GIVEN a job
    store.create_job(job_record("job-1"))
    # WHEN the same batch is counted twice and another batch once
    first = counted_batch(store, "job-1", "job-1:000000000", copied=7, failed=1, bytes_copied=700)
    again = counted_batch(store, "job-1", "job-1:000000000", copied=7, failed=1, bytes_copied=700)
    other = counted_batch(store, "job-1", "job-1:000000001", copied=2, failed=0, bytes_copied=20)
    # THEN the repeat adds nothing and the counters are exact
    assert (first, again, other) == (True, False, True)
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.model_dump() == {
        "objects_copied": 9,
        "objects_failed": 1,
        "objects_deleted": 0,
        "objects_verified": 0,  # counted by hand, nothing verified
        "bytes_copied": 720,
        "batches_done": 2,
        "batches_spawned": 0,
        "batches_extra": 0,
    }


def test_batches_and_counters_do_not_show_up_as_jobs(store: JobStore) -> None:
    store.create_job(job_record("job-1"))
    counted_batch(store, "job-1", "job-1:000000000", copied=1, failed=1, bytes_copied=1)
    assert [j.job_id for j in store.list_jobs()] == ["job-1"]


def test_second_owner_is_refused_while_the_lease_is_valid(store: JobStore) -> None:
    # GIVEN a job leased by coordinator A
    store.create_job(job_record("job-1"))
    assert store.acquire_lease("job-1", "owner-a", lease_s=60)
    # WHEN coordinator B asks for it, and A renews
    b_takes = store.acquire_lease("job-1", "owner-b", lease_s=60)
    a_renews = store.acquire_lease("job-1", "owner-a", lease_s=60)
    # THEN B is refused, A keeps it, and the lease runs about a minute ahead
    assert (b_takes, a_renews) == (False, True)
    assert store.lease_until("job-1") > store.get_job("job-1").updated_at + 50  # type: ignore[union-attr]


def test_expired_lease_can_be_taken_over(store: JobStore) -> None:
    store.create_job(job_record("job-1"))
    assert store.acquire_lease("job-1", "owner-a", lease_s=-1)
    assert store.acquire_lease("job-1", "owner-b", lease_s=60)


def test_released_lease_can_be_taken_at_once_but_only_its_owner_releases(
    store: JobStore,
) -> None:
    # GIVEN a job leased by A
    store.create_job(job_record("job-1"))
    assert store.acquire_lease("job-1", "owner-a", lease_s=60)
    # WHEN B tries to release it, then A releases it
    store.release_lease("job-1", "owner-b")
    blocked = store.acquire_lease("job-1", "owner-b", lease_s=60)
    store.release_lease("job-1", "owner-a")
    # THEN B's release did nothing, A's let B take the lease immediately
    assert blocked is False
    assert store.acquire_lease("job-1", "owner-b", lease_s=60)


def test_lease_on_a_missing_job_is_refused(store: JobStore) -> None:
    assert store.acquire_lease("ghost", "owner-a", lease_s=60) is False


def test_checkpoint_roundtrips_through_get_job(store: JobStore) -> None:
    # GIVEN a leased job
    store.create_job(job_record("job-1"))
    store.acquire_lease("job-1", "owner-a", lease_s=60)
    checkpoint = ListingCheckpoint(
        start_after="photos/2024/img 0042.jpg", next_seq=3, objects=250, bytes=10_000, complete=True
    )
    # WHEN the checkpoint is saved by the lease holder
    store.save_checkpoint("job-1", "owner-a", checkpoint, lease_s=60, seq=0)
    # THEN reading the job returns it exactly
    job = store.get_job("job-1")
    assert job is not None
    assert job.listing == checkpoint


def test_checkpoint_from_a_non_owner_is_rejected_as_a_lost_lease(store: JobStore) -> None:
    store.create_job(job_record("job-1"))
    store.acquire_lease("job-1", "owner-a", lease_s=60)
    with pytest.raises(LeaseLostError, match="job-1"):
        store.save_checkpoint("job-1", "owner-b", ListingCheckpoint(next_seq=9), lease_s=60, seq=0)
    assert store.get_job("job-1").listing.next_seq == 0  # type: ignore[union-attr]


def test_a_job_finishes_only_once(store: JobStore) -> None:
    # GIVEN a running job
    store.create_job(job_record("job-1"))
    # WHEN it is finished twice with different outcomes
    first = store.finish("job-1", JobState.SUCCEEDED, 100, epoch=0)
    second = store.finish("job-1", JobState.FAILED, 3, error="late", epoch=0)
    # THEN the first outcome stands
    job = store.get_job("job-1")
    assert (first, second) == (True, False)
    assert job is not None
    assert (job.state, job.phase, job.percent, job.error) == (
        JobState.SUCCEEDED,
        Phase.FINISHED,
        100,
        None,
    )
    assert job.finished_at is not None


def test_finish_records_the_error(store: JobStore) -> None:
    store.create_job(job_record("job-1"))
    assert store.finish("job-1", JobState.FAILED, 0, error="source bucket missing", epoch=0)
    assert store.get_job("job-1").error == "source bucket missing"  # type: ignore[union-attr]


def test_finish_with_an_empty_error_message_does_not_crash(store: JobStore) -> None:
    # `finish` adds `#error` to the expression when error is not None, but names it only when
    # error is truthy, so an empty string yields an unresolvable expression.
    store.create_job(job_record("job-1"))
    assert store.finish("job-1", JobState.FAILED, 0, error="", epoch=0)
    assert store.get_job("job-1").state is JobState.FAILED  # type: ignore[union-attr]


def test_finished_job_ignores_phase_and_percent_updates(store: JobStore) -> None:
    store.create_job(job_record("job-1"))
    store.finish("job-1", JobState.SUCCEEDED, 100, epoch=0)
    assert store.set_percent("job-1", 42, epoch=0) is False
    assert store.set_phase("job-1", "me", 0, Phase.STARTED, Phase.COPYING) is False
    job = store.get_job("job-1")
    assert job is not None
    assert (job.phase, job.percent) == (Phase.FINISHED, 100)


def test_list_jobs_returns_every_job_oldest_first(store: JobStore) -> None:
    # GIVEN three jobs created in order
    for n in range(3):
        store.create_job(job_record(f"job-{n}"))
    # WHEN listed
    jobs = store.list_jobs()
    # THEN all three come back oldest first
    assert [j.job_id for j in jobs] == ["job-0", "job-1", "job-2"]


def test_failures_are_what_the_counted_batches_left_failed(store: JobStore) -> None:
    # GIVEN two batches with 30 failures between them (more than one page), one counted twice
    store.create_job(job_record("job-1"))
    first = [FailureRecord(key=f"job-1:a/{i}", code="NoSuchKey", message="gone") for i in range(20)]
    second = [
        FailureRecord(key=f"job-1:b/{i}", code="AccessDenied", message="no") for i in range(10)
    ]
    counted_batch(store, "job-1", "job-1:a", copied=0, failed=20, failures=first)
    counted_batch(store, "job-1", "job-1:a", copied=0, failed=20, failures=first)
    counted_batch(store, "job-1", "job-1:b", copied=5, failed=10, failures=second)
    # THEN each failed key is there once, and another job has none
    assert store.batches.failures("job-1") == sorted(first + second, key=lambda f: f.key)
    assert store.batches.failures("other-job") == []


def test_failure_of_a_maximum_length_key_can_be_recorded(store: JobStore) -> None:
    # GIVEN an object key of 1024 bytes, the longest S3 allows
    store.create_job(job_record("job-1"))
    key = "k" * 1024
    # WHEN its failure is counted
    failure = FailureRecord(key=key, code="AccessDenied", message="no")
    counted_batch(store, "job-1", "job-1:long", copied=0, failed=1, failures=[failure])
    # THEN it can be read back
    assert [f.key for f in store.batches.failures("job-1")] == [key]


def test_a_full_batch_that_fails_whole_with_long_messages_is_counted(
    store: JobStore,
) -> None:
    # GIVEN a batch that carries its items (a redrive's, a remainder's), as full as the
    # coordinator packs it with a cap of 1,000 keys
    store.create_job(job_record("job-1"))
    spec = job_record("job-1").spec
    assert spec is not None
    items = [
        WorkItem(key=f"données/{i % 16:02d}/objet-{i:07d}.bin", size=1, etag=f'"{i:032x}"')
        for i in range(1000)
    ]
    batch = next(pack(items, spec, first_seq=0, max_keys=1000, max_bytes=256 * 1024))
    assert len(batch.items) > 900
    store.define_batches([batch])
    # WHEN every object fails with the longest message a failure keeps, two bytes a character
    message = "é" * MAX_FAILURE_MESSAGE
    failures = [
        i.failure("AccessDenied", message, attempts=10, http_status=403) for i in batch.items
    ]
    counted = store.batches.count(batch, BatchOutcome(failures=failures))
    # THEN it is counted, each object once, and the record keeps every failure with its key,
    # code, status and attempts whole, the messages cut to one length
    assert counted
    stored = store.batches.failures("job-1")
    assert [f.model_copy(update={"message": ""}) for f in stored] == [
        f.model_copy(update={"message": ""}) for f in sorted(failures, key=lambda f: f.key)
    ]
    assert {f.message for f in stored} == {stored[0].message}
    assert stored[0].message.endswith(CUT_MARK) and message.startswith(stored[0].message[:-1])
    record = store.get_job("job-1")
    assert record is not None and record.counters.objects_failed == len(batch.items)
