"""A redrive run again after one that defined its batches and died before reopening the job:
whatever bounds the first one packed with (another version's), the batches it defined are the
redrive's, and the objects they leave out go into new batches after them."""

from __future__ import annotations

from typing import Any

import pytest
from moto_helpers import cap_work_queue, fill, job_message

from coordinator.batching import fixed_limits, pack
from progress.refresh import refresh
from s3migrator.cli.jobs import redrive_job
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import WorkItem

OBJECTS = {f"data/{i:04d}": b"x" * (i % 7 + 1) for i in range(250)}


@pytest.mark.parametrize("defined", [2, 1], ids=["all-defined", "one-of-two-defined"])
def test_a_redrive_run_again_after_another_bound_defined_its_batches_ends_the_job(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    defined: int,
) -> None:
    # GIVEN a job that completed with 250 failures (its source was gone while it copied)
    fill(s3, "src-bucket", OBJECTS)
    make_runner().run(job_message("job-1"))
    for key in OBJECTS:
        s3.delete_object(Bucket="src-bucket", Key=key)
    copy_all()
    (first,) = refresh(store, sqs, resources)
    assert (first.state, first.objects_failed) == (JobState.COMPLETED_WITH_FAILURES, 250)
    fill(s3, "src-bucket", OBJECTS)
    # AND a redrive packing 200 keys a batch (another version's bounds) that defined its first
    # ``defined`` batches, then died before reopening the job
    record = store.get_job("job-1")
    assert record is not None and record.spec is not None
    items = [WorkItem(key=f.key, size=f.size, etag=f.etag) for f in store.batches.failures("job-1")]
    earlier = list(
        pack(
            items,
            record.spec,
            first_seq=record.counters.batches_extra,
            **{**fixed_limits(), "max_keys": 200},
            redrive=True,
            epoch=record.epoch + 1,
        )
    )
    assert [len(b.items) for b in earlier] == [200, 50]
    store.define_batches(earlier[:defined])
    # WHEN the redrive is run again, by this version
    sent = redrive_job(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    copy_all()
    (done,) = refresh(store, sqs, resources)
    # THEN every failed object was sent once and copied, and the job ends
    assert sent == 250
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 250, 0)
    # AND the batches the first run defined are the redrive's, as it defined them
    for batch in earlier[:defined]:
        kept = store.batches.get("job-1", batch.batch_id)
        assert kept is not None and kept.digest == batch.digest


def test_a_redrive_packs_within_the_work_queues_message_size(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a stack whose work queue takes messages of 64 KiB, and a job of 900 keys that
    # completed with every object failed
    cap = 64 * 1024
    cap_work_queue(sqs, resources, cap)
    objects = {f"some/longer/prefix/for/the/keys/{i:07d}": b"x" for i in range(900)}
    fill(s3, "src-bucket", objects)
    make_runner(message_max_bytes=cap).run(job_message("job-1"))
    for key in objects:
        s3.delete_object(Bucket="src-bucket", Key=key)
    copy_all()
    settings = Settings(stack_name="s3migrator", message_max_bytes=cap)
    (first,) = refresh(store, sqs, resources, settings=settings)
    assert (first.state, first.objects_failed) == (JobState.COMPLETED_WITH_FAILURES, 900)
    fill(s3, "src-bucket", objects)
    # WHEN it is redriven by a process whose settings say nothing of the cap
    sent = redrive_job(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    copy_all()
    (done,) = refresh(store, sqs, resources, settings=settings)
    # THEN its batches fit the queue, and the job ends with every object copied
    assert sent == 900
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 900, 0)
