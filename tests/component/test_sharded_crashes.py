"""A sharded listing killed at any line, changed under it or taken over (coordinator, copier,
progress on moto): each shard resumed from its own checkpoint with its ids, a changed range
replaced, a lost lease stopping every thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto_helpers import fill, job_message, resume_falls_due
from shard_helpers import (
    SHARDED,
    Death,
    Sent,
    assert_each_key_once_with_exact_counts,
    copied_to_the_end,
    source_objects,
)

from coordinator.jobs import RunEnd
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources
from s3migrator.work import BatchState


def test_a_run_killed_between_a_shards_define_and_its_send_is_resumed_shard_by_shard(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a sharded job whose run dies right after its second group is defined (two threads:
    # the first group of one shard went out, the second of another never did)
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=2))
    death = Death(runner, monkeypatch)
    define = store.define_shard_group
    defines = [0]
    never_sent: list[str] = []
    lock = threading.Lock()

    def dies_after_the_second(*args: Any, **kwargs: Any) -> None:
        with lock:
            define(*args, **kwargs)
            defines[0] += 1
            if defines[0] == 2:
                assert sent.some.wait(30)  # the first group is out
                death.dead.set()
                never_sent.extend(batch.batch_id for batch, _ in args[5])
                raise RuntimeError("killed between define and send")

    monkeypatch.setattr(store, "define_shard_group", dies_after_the_second)
    assert runner.run(job_message("job-1")) is RunEnd.RETRYING
    monkeypatch.undo()
    first_run = {b.batch_id for b in sent.batches}
    assert len(first_run) == 10  # one group out; the other defined and never sent
    shards = store.listing_shards("job-1")
    defined_unsent = [s for s in shards if s.checkpoint.group_start < s.checkpoint.next_seq]
    assert len(defined_unsent) >= 1
    # WHEN the resume runs to the end
    resume_falls_due(store, clock)
    second = sent.watch(make_runner(**SHARDED, listing_threads=2))
    assert second.run(job_message("job-1")) is RunEnd.LISTED
    # THEN the group never sent went out with the ids and keys it was defined with, marked
    # sent again, and no key was listed into a second id
    resent = {b.batch_id for b in sent.batches if b.resent}
    assert len(never_sent) >= 5 and set(never_sent) <= resent - first_run
    assert_each_key_once_with_exact_counts(sent, store, objects)
    copied_to_the_end(store, sqs, resources, copy_all, objects)


def test_a_run_killed_mid_shard_is_resumed_from_each_shards_own_checkpoint(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a sharded job listed by one thread, killed as it completes its second shard (the
    # first complete, the second's batches all defined and sent, its end not saved)
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=1))
    death = Death(runner, monkeypatch)
    save = store.save_shard
    saves = [0]

    def dies_completing_the_second(*args: Any, **kwargs: Any) -> None:
        saves[0] += 1
        if saves[0] == 2:
            death.dead.set()
        return save(*args, **kwargs)

    monkeypatch.setattr(store, "save_shard", death._mortal(dies_completing_the_second))
    assert runner.run(job_message("job-1")) is RunEnd.RETRYING
    monkeypatch.undo()
    shards = store.listing_shards("job-1")
    assert [s.checkpoint.complete for s in shards] == [True, False, False, False]
    assert (shards[1].checkpoint.group_start, shards[1].checkpoint.next_seq) == (10, 15)
    before = len(sent.batches)
    assert before == 30
    # WHEN the resume runs to the end
    resume_falls_due(store, clock)
    second = sent.watch(make_runner(**SHARDED, listing_threads=1))
    assert second.run(job_message("job-1")) is RunEnd.LISTED
    # THEN the complete shard was not listed again, the second shard's last group went again
    # under its ids, and the other two were listed from their start
    again = sent.batches[before:]
    assert not [b for b in again if b.batch_id.startswith("job-1:s000-")]
    assert sorted(b.batch_id for b in again if b.resent) == [
        f"job-1:s001-{seq:09d}" for seq in range(10, 15)
    ]
    assert_each_key_once_with_exact_counts(sent, store, objects)
    copied_to_the_end(store, sqs, resources, copy_all, objects)


def test_a_shards_last_group_changed_at_the_source_is_replaced(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a sharded job killed right after defining the last group of the shard of folder c
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=1))
    death = Death(runner, monkeypatch)
    define = store.define_shard_group

    def dies_after_cs_last_group(
        job_id: str, token: str, shard: Any, *rest: Any, **kw: Any
    ) -> None:
        define(job_id, token, shard, *rest, **kw)
        if shard.index == 2 and shard.checkpoint.next_seq == 15:
            death.dead.set()
            raise RuntimeError("killed between define and send")

    monkeypatch.setattr(store, "define_shard_group", dies_after_cs_last_group)
    assert runner.run(job_message("job-1")) is RunEnd.RETRYING
    monkeypatch.undo()
    # AND meanwhile one object of that group grew at the source, and one was added beside it
    objects["c/027.txt"] = b"grown" * 10
    objects["c/026a.txt"] = b"new"
    fill(s3, "src-bucket", {"c/027.txt": objects["c/027.txt"], "c/026a.txt": b"new"})
    # WHEN the resume runs to the end
    resume_falls_due(store, clock)
    second = sent.watch(make_runner(**SHARDED, listing_threads=1))
    assert second.run(job_message("job-1")) is RunEnd.LISTED
    # THEN the batch of that range was voided and replaced by new ids with the keys there now
    # (two keys a batch), and the job's totals follow (one object more, the new bytes)
    void = store.batches.get("job-1", "job-1:s002-000000013")
    assert void is not None and void.state is BatchState.VOID and void.replacements == 2
    replacements = sent.keys_by_id()
    assert replacements["job-1:s002-000000013+0"] == {("c/026.txt", "c/026a.txt")}
    assert replacements["job-1:s002-000000013+1"] == {("c/027.txt",)}
    assert_each_key_once_with_exact_counts(sent, store, objects)
    copied_to_the_end(store, sqs, resources, copy_all, objects)
    copy = s3.get_object(Bucket="dst-bucket", Key="c/027.txt")["Body"].read()
    assert copy == objects["c/027.txt"]


def test_a_lease_lost_mid_listing_stops_every_shard_thread(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a sharded job listed by four threads, whose run stalls past its lease right after
    # its first group is defined, while another coordinator takes the job over
    fill(s3, "src-bucket", source_objects())
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=4, lease_s=60))
    define = store.define_shard_group
    lock = threading.Lock()
    defined: list[int] = []

    def taken_over_after_the_first(*args: Any, **kwargs: Any) -> None:
        with lock:  # one define at a time, so that none slips in before the takeover
            define(*args, **kwargs)
            defined.append(args[2].index)
            if len(defined) == 1:
                clock.advance(61)
                assert store.acquire_lease("job-1", "the-other-coordinator", lease_s=600)

    monkeypatch.setattr(store, "define_shard_group", taken_over_after_the_first)
    # WHEN the stalled run goes on
    end = runner.run(job_message("job-1"))
    # THEN it ends as LOST, with no listing thread left running
    assert end is RunEnd.LOST
    assert not [t for t in threading.enumerate() if t.name.startswith("listing-job-1-")]
    # AND only the group defined before the takeover was defined and sent; no shard moved on
    assert len(defined) == 1
    assert len({b.batch_id for b in sent.batches}) == 10
    job = store.get_job("job-1")
    assert job is not None and (job.listing.next_seq, job.listing.complete) == (10, False)
    moved = [s.checkpoint.next_seq for s in store.listing_shards("job-1")]
    assert sorted(moved) == [0, 0, 0, 10]
    assert not any(s.checkpoint.complete for s in store.listing_shards("job-1"))
