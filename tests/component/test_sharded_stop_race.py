"""A stop noticed by one shard thread holds whatever the other threads end with.

It was once lost when another thread's DONE was appended to the shared ``outcomes`` list
between the first thread's append and its ``outcomes[-1]`` check: no thread set ``halt``, the
run called ``complete_sharded`` with a shard unfinished, its condition failed and the run ended
LOST (lease kept, no resume scheduled) instead of STOPPED."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest
from moto_helpers import fill, job_message

import coordinator.shard_listing as shard_listing
from coordinator.jobs import RunEnd
from coordinator.shard_listing import ShardedListing
from s3migrator.jobstore import JobStore

SETTINGS = {"listing_shard_min_keys": 1, "listing_shards": 2, "batch_max_keys": 2}


def _check_line() -> int:
    lines, start = inspect.getsourcelines(shard_listing)
    for offset, text in enumerate(lines):
        # the thread's check of its outcome (once written as the shared list's last entry)
        if "is not Outcome.DONE" in text and "if outcome" in text:
            return start + offset if start else offset + 1
    raise AssertionError("check line not found")


def test_a_stop_seen_by_one_shard_thread_ends_the_run_stopped_whatever_the_others_append(
    s3: Any, store: JobStore, make_runner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two shards: a/ (30 keys, 15 batches: it meets the stop after its first group)
    # and b/ (2 keys, one batch: it ends DONE), listed by two threads, the run asked to stop
    objects = {f"a/{i:03d}.txt": b"x" for i in range(30)}
    objects.update({"b/000.txt": b"y", "b/001.txt": b"y"})
    fill(s3, "src-bucket", objects)
    runner = make_runner(**SETTINGS, listing_threads=2)
    runner.stop.set()
    line = _check_line()
    a_at_check, b_at_check = threading.Event(), threading.Event()

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == line:
            if frame.f_locals["shard"].index == 0:
                a_at_check.set()
                assert b_at_check.wait(30)
            else:
                b_at_check.set()
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        if code.co_name == "lister" and code.co_filename == shard_listing.__file__:
            return local
        return None

    real = ShardedListing._list_shard

    def gated(self: ShardedListing, shard: Any) -> Any:
        outcome = real(self, shard)
        if shard.index == 1:
            # b/'s DONE is appended only once a/'s STOPPED is appended and not yet looked at
            assert a_at_check.wait(30)
        return outcome

    monkeypatch.setattr(ShardedListing, "_list_shard", gated)
    threading.settrace(tracer)
    try:
        # WHEN the run goes
        end = runner.run(job_message("job-1"))
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
    # THEN the shard a/ was left unfinished by the stop
    shards = store.listing_shards("job-1")
    assert [s.checkpoint.complete for s in shards] == [False, True]
    # AND the run ends STOPPED: lease released and a resume scheduled at once
    job = store.get_job("job-1")
    assert job is not None
    assert (end, job.lease_until, job.resume_due is not None) == (RunEnd.STOPPED, 0, True)
