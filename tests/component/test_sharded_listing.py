"""A large job's listing in shards (coordinator, copier, progress on moto): every key once with
exact counts, each shard resumed from its own checkpoint with its ids, a changed range
replaced, a lost lease stopping every thread, and the shards' pages in flight at once.

The threshold is lowered so a few hundred keys are "large"; four folders make four shards.
A run killed at a line is a run whose every write and send from that line on fails, in every
thread at once (``Death``), as when its process dies.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from moto_helpers import fill, job_message, resume_falls_due

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.work import BatchState, WorkBatch

FOLDERS = "abcd"
SHARDED = {"listing_shard_min_keys": 1, "listing_shards": 4, "batch_max_keys": 2}
SHARD_ID = re.compile(r"^job-1:s00[0-3]-\d{9}(\+\d+)?$")


def source_objects(per_folder: int = 30) -> dict[str, bytes]:
    return {
        f"{folder}/{i:03d}.txt": b"x" * (i % 7 + 1) for folder in FOLDERS for i in range(per_folder)
    }


class Sent:
    """Every batch a runner sends, as sent (ids, keys, whether sent again)."""

    def __init__(self) -> None:
        self.batches: list[WorkBatch] = []
        self.some = threading.Event()  # a send went through
        self._lock = threading.Lock()

    def watch(self, runner: Any) -> Any:
        def sending(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["batches"] = [
                WorkBatch.model_validate_json(entry["MessageBody"]) for entry in params["Entries"]
            ]

        def sent(context: dict[str, Any], **_: Any) -> None:
            with self._lock:
                self.batches += context["batches"]
            self.some.set()

        events = runner.sqs.meta.events
        events.register("provide-client-params.sqs.SendMessageBatch", sending)
        events.register("after-call.sqs.SendMessageBatch", sent)
        return runner

    def keys_by_id(self) -> dict[str, set[tuple[str, ...]]]:
        found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for batch in self.batches:
            found[batch.batch_id].add(tuple(item.key for item in batch.items))
        return found


class Death:
    """Kills a run at a line: from then on every listing write and work send of the run fails,
    in every thread."""

    def __init__(self, runner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dead = threading.Event()
        store = runner.store
        for name in ("define_shard_group", "save_shard", "complete_sharded", "record_split"):
            monkeypatch.setattr(store, name, self._mortal(getattr(store, name)))
        runner.sqs.meta.events.register("before-call.sqs.SendMessageBatch", self._send)

    def _mortal(self, write: Any) -> Any:
        def written(*args: Any, **kwargs: Any) -> Any:
            if self.dead.is_set():
                raise RuntimeError("the coordinator is dead")
            return write(*args, **kwargs)

        return written

    def _send(self, **_: Any) -> None:
        if self.dead.is_set():
            raise RuntimeError("the coordinator is dead")


def assert_each_key_once_with_exact_counts(
    sent: Sent, store: JobStore, objects: dict[str, bytes]
) -> None:
    """Every id sent names one key set for ever, every key is in exactly one live batch, and
    the job's listing totals are the live batches'."""
    by_id = sent.keys_by_id()
    assert all(len(sets) == 1 for sets in by_id.values()), by_id
    assert all(SHARD_ID.match(batch_id) for batch_id in by_id), sorted(by_id)
    records = {r.batch_id: r for r in store.batches.of_job("job-1")}
    live = {i for i, r in records.items() if r.state is not BatchState.VOID}
    assert live <= set(by_id)
    keys = Counter(key for batch_id in live for key in next(iter(by_id[batch_id])))
    assert set(keys) == set(objects) and set(keys.values()) == {1}
    job = store.get_job("job-1")
    assert job is not None
    listing = job.listing
    defined = sum(1 for r in records.values() if "+" not in r.batch_id)
    assert (listing.complete, listing.objects, listing.next_seq) == (True, len(objects), defined)
    assert listing.bytes == sum(len(body) for body in objects.values())


def copied_to_the_end(
    store: JobStore, sqs: Any, resources: Resources, copy_all: Any, objects: dict[str, bytes]
) -> None:
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied, status.objects_failed, status.percent) == (
        JobState.SUCCEEDED,
        len(objects),
        0,
        100,
    )


def test_a_large_job_is_listed_in_shards_and_copies_every_key_once_with_exact_counts(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN four folders of 30 objects, and 8 temporary files the job leaves out
    objects = source_objects()
    fill(s3, "src-bucket", {**objects, **{f"{f}/{n}.tmp": b"t" for f in FOLDERS for n in (1, 2)}})
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=3))
    # WHEN the job runs
    end = runner.run(job_message("job-1", select={"exclude": ["*.tmp"]}))
    # THEN its listing was split at the folders, once, into four shards all complete
    assert end is RunEnd.LISTED
    shards = store.listing_shards("job-1")
    assert [(s.after, s.through) for s in shards] == [
        (None, "b/"),
        ("b/", "c/"),
        ("c/", "d/"),
        ("d/", None),
    ]
    assert all(s.checkpoint.complete for s in shards)
    assert [s.checkpoint.next_seq for s in shards] == [15, 15, 15, 15]
    # AND each key went out once, in the shards' own series, and the totals are exact (what
    # was left out too)
    assert_each_key_once_with_exact_counts(sent, store, objects)
    assert {b.batch_id for b in sent.batches} >= {"job-1:s000-000000000", "job-1:s003-000000014"}
    job = store.get_job("job-1")
    assert job is not None and job.listing.tally.filtered == 8
    # AND the copiers copy it to the end: 100% only when every object is copied
    copied_to_the_end(store, sqs, resources, copy_all, objects)


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


def test_two_shards_pages_are_in_flight_at_once(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a sharded job listed by two threads, whose first listing requests each wait, at a
    # barrier of two, for the other's to be in flight too (were the shards listed one after
    # the other, the barrier would break and the listing fail)
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    runner = make_runner(**SHARDED, listing_threads=2)
    barrier = threading.Barrier(2, timeout=30)
    met: set[str] = set()

    def both_in_flight(params: dict[str, Any], **_: Any) -> None:
        name = threading.current_thread().name
        if name.startswith("listing-job-1-") and name not in met:
            met.add(name)
            barrier.wait()

    runner.clients.default.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", both_in_flight
    )
    # WHEN the job runs
    end = runner.run(job_message("job-1"))
    # THEN both threads' first pages met at the barrier, and the listing ended complete
    assert end is RunEnd.LISTED and len(met) == 2 and not barrier.broken
    copied_to_the_end(store, sqs, resources, copy_all, objects)


def test_a_stopped_sharded_run_saves_each_shards_checkpoint_and_nothing_is_sent_twice(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a sharded job whose coordinator is asked to stop as it starts (a deploy, scale-in)
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    sent = Sent()
    stopping = sent.watch(make_runner(**SHARDED, listing_threads=2))
    stopping.stop.set()
    # WHEN it runs, then another coordinator takes the job up
    assert stopping.run(job_message("job-1")) is RunEnd.STOPPED
    shards = store.listing_shards("job-1")
    assert sorted(s.checkpoint.next_seq for s in shards) == [0, 0, 10, 10]
    assert all(s.checkpoint.group_start == s.checkpoint.next_seq for s in shards)
    assert sent.watch(make_runner(**SHARDED, listing_threads=2)).run(job_message("job-1")) is (
        RunEnd.LISTED
    )
    # THEN each thread stopped after one group, its checkpoint saved after it: no batch was
    # sent twice, and every key went out once
    assert sorted(Counter(b.batch_id for b in sent.batches).values()) == [1] * 60
    assert_each_key_once_with_exact_counts(sent, store, objects)
    copied_to_the_end(store, sqs, resources, copy_all, objects)


def test_a_sharded_sync_merges_each_range_with_the_destinations_same_range(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a source of four folders written an hour ago, and a destination holding copies of
    # the even objects (written since), and extras in every range, before the first and after
    # the last
    objects = source_objects(10)
    with freeze_time(datetime.now(UTC) - timedelta(hours=1)):
        fill(s3, "src-bucket", objects)
    copies = {key: body for key, body in objects.items() if int(key[2:5]) % 2 == 0}
    extras = {"0-first": b"e", "a/005a": b"e", "b/x": b"e", "c/x": b"e", "d/x": b"e", "zz": b"e"}
    fill(s3, "dst-bucket", {**copies, **extras})
    sent = Sent()
    runner = sent.watch(make_runner(**SHARDED, listing_threads=4))
    # WHEN a sync that deletes extras runs in shards
    assert runner.run(job_message("job-1", sync=True, delete_extra=True)) is RunEnd.LISTED
    assert len(store.listing_shards("job-1")) == 4
    # THEN each extra is deleted by exactly one batch, each new object copied by exactly one,
    # and the copies already there are tallied unchanged, once
    items = Counter((i.key, i.delete) for b in sent.batches for i in b.items)
    assert set(items.values()) == {1}
    assert {key for key, delete in items if delete} == set(extras)
    assert {key for key, delete in items if not delete} == set(objects) - set(copies)
    job = store.get_job("job-1")
    assert job is not None and job.listing.tally.unchanged == len(copies)
    assert job.listing.objects == len(objects) - len(copies) + len(extras)
    copy_all()
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_deleted) == (JobState.SUCCEEDED, len(extras))
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="dst-bucket")
    assert {o["Key"] for page in pages for o in page.get("Contents", [])} == set(objects)
