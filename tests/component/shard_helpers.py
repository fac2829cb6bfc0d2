"""Helpers of the sharded listing tests (plain functions; fixtures live in conftest.py).

The threshold is lowered so a few hundred keys are "large"; four folders make four shards.
A run killed at a line is a run whose every write and send from that line on fails, in every
thread at once (``Death``), as when its process dies.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from typing import Any

import pytest

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
