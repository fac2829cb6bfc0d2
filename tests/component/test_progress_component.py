"""The progress function's refresh: percent while copying, and finishing jobs exactly when done."""

from __future__ import annotations

from typing import Any

from moto_helpers import counted_batch, fill, job_message, job_record

from progress.refresh import refresh
from progress.status import statuses
from s3migrator.failures import FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, ListingCheckpoint, Phase
from s3migrator.resources import Resources

OWNER = "coordinator-a"


def copying_job(store: JobStore, listing: ListingCheckpoint, job_id: str = "job-1") -> None:
    """A job in the copy phase whose listing stands at ``listing``."""
    store.create_job(job_record(job_id))
    store.acquire_lease(job_id, OWNER, lease_s=60)
    store.set_phase(job_id, OWNER, 0, Phase.STARTED, Phase.COPYING)
    store.save_checkpoint(job_id, OWNER, listing, lease_s=60, seq=0)


def test_job_succeeds_at_100_once_listed_and_every_batch_is_counted(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a job listed into 3 batches and not yet copied
    fill(s3, "src-bucket", {f"k{i:02d}": b"data" for i in range(9)})
    make_runner(batch_max_keys=3).run(job_message("job-1"))
    # WHEN progress is refreshed before copying
    (before,) = refresh(store, sqs, resources)
    # THEN the job runs at the start of the copy step, with the batches queued
    assert (before.state, before.phase, before.percent) == (JobState.RUNNING, Phase.COPYING, 6)
    assert (before.objects_total, before.objects_copied, before.queue_visible) == (9, 0, 3)
    assert before.enumeration_complete is True
    # WHEN the copier has drained the queue and progress is refreshed
    run_copier()
    (after,) = refresh(store, sqs, resources)
    # THEN the job succeeded at 100 %
    assert (after.state, after.phase, after.percent) == (JobState.SUCCEEDED, Phase.FINISHED, 100)
    assert (after.objects_copied, after.bytes_copied, after.bytes_total) == (9, 36, 36)
    assert after.finished_at is not None
    assert after.error is None
    # AND a later refresh leaves it as it was
    (again,) = refresh(store, sqs, resources, job_id="job-1")
    assert (again.state, again.percent, again.finished_at) == (
        JobState.SUCCEEDED,
        100,
        after.finished_at,
    )


def test_job_is_not_finished_while_the_listing_is_incomplete(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    # GIVEN every listed object counted, but the listing still running
    copying_job(store, ListingCheckpoint(start_after="k", next_seq=1, objects=3, bytes=3))
    counted_batch(store, "job-1", "job-1:000000000", copied=3, failed=0, bytes_copied=3)
    # WHEN refreshed
    (status,) = refresh(store, sqs, resources, job_id="job-1")
    # THEN the job keeps running, at the copy step's first value (its total is not known yet)
    assert status.state is JobState.RUNNING
    assert status.percent == 6
    assert store.get_job("job-1").percent == 6  # type: ignore[union-attr]
    # WHEN the listing then completes with nothing more
    store.save_checkpoint(
        "job-1",
        OWNER,
        ListingCheckpoint(start_after="k", next_seq=1, objects=3, bytes=3, complete=True),
        lease_s=60,
        seq=1,
    )
    (status,) = refresh(store, sqs, resources, job_id="job-1")
    # THEN it succeeds
    assert (status.state, status.percent) == (JobState.SUCCEEDED, 100)


def test_job_is_not_finished_while_a_batch_is_uncounted(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    # GIVEN a complete listing of 2 batches with only the first counted
    copying_job(
        store, ListingCheckpoint(start_after="z", next_seq=2, objects=4, bytes=4, complete=True)
    )
    counted_batch(store, "job-1", "job-1:000000000", copied=2, failed=0, bytes_copied=2)
    # WHEN refreshed
    (status,) = refresh(store, sqs, resources)
    # THEN the job runs on at a copy-step percent below 100
    assert status.state is JobState.RUNNING
    assert 6 <= status.percent <= 99
    assert status.percent == 6 + int(0.5 * 93)


def test_job_with_failed_objects_completes_with_failures(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    # GIVEN a complete listing whose only batch counted one failed object
    copying_job(
        store, ListingCheckpoint(start_after="b", next_seq=1, objects=2, bytes=2, complete=True)
    )
    failure = FailureRecord(key="b", code="AccessDenied", message="denied", http_status=403)
    counted_batch(
        store, "job-1", "job-1:000000000", copied=1, failed=1, bytes_copied=1, failures=[failure]
    )
    # WHEN refreshed, then looked at
    (refreshed,) = refresh(store, sqs, resources)
    (status,) = statuses(store, sqs, resources)
    # THEN it completed with failures, at 100 %, and the status names the failure (the
    # scheduled run itself never reads failures: it serves every job each minute)
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert (status.objects_copied, status.objects_failed) == (1, 1)
    assert status.first_failures == [failure]
    assert refreshed.first_failures == []
    assert status.error is None


def test_count_that_disagrees_with_the_listing_is_reported(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    # GIVEN every batch counted but one object fewer than listed
    copying_job(
        store, ListingCheckpoint(start_after="e", next_seq=1, objects=5, bytes=5, complete=True)
    )
    counted_batch(store, "job-1", "job-1:000000000", copied=4, failed=0, bytes_copied=4)
    # WHEN refreshed
    (status,) = refresh(store, sqs, resources)
    # THEN the mismatch is not hidden
    assert status.state is JobState.COMPLETED_WITH_FAILURES
    assert status.error == "counted 4 objects but listed 5"


def test_failed_job_keeps_its_percent(sqs: Any, store: JobStore, resources: Resources) -> None:
    store.create_job(job_record("job-1"))
    store.finish("job-1", JobState.FAILED, 5, error="boom", epoch=0)
    (status,) = refresh(store, sqs, resources, job_id="job-1")
    assert (status.state, status.percent, status.error) == (JobState.FAILED, 5, "boom")


def test_job_before_the_copy_phase_is_not_finished(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    store.create_job(job_record("job-1"))
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.phase, status.percent) == (JobState.RUNNING, Phase.STARTED, 0)


def test_refresh_of_an_unknown_job_is_empty(
    sqs: Any, store: JobStore, resources: Resources
) -> None:
    assert refresh(store, sqs, resources, job_id="ghost") == []
