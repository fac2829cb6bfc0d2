"""A large job's listing in shards (coordinator, copier, progress on moto): every key once with
exact counts, the shards' pages in flight at once, a stop saving each shard's checkpoint, a
sync merged range by range, and a job begun in one chain kept in it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from moto_helpers import fill, job_message
from shard_helpers import (
    FOLDERS,
    SHARDED,
    Sent,
    assert_each_key_once_with_exact_counts,
    copied_to_the_end,
    source_objects,
)

from coordinator.jobs import RunEnd
from progress.refresh import refresh
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources


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
    # (each thread that took a shard listed one group of it; a thread that started after
    # another had met the stop took none)
    seqs = sorted(s.checkpoint.next_seq for s in shards)
    assert seqs in ([0, 0, 0, 10], [0, 0, 10, 10])
    assert all(s.checkpoint.group_start == s.checkpoint.next_seq for s in shards)
    assert sent.watch(make_runner(**SHARDED, listing_threads=2)).run(job_message("job-1")) is (
        RunEnd.LISTED
    )
    # THEN each thread stopped after its group, its checkpoint saved after it: no batch was
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


def test_a_job_begun_in_one_chain_stays_in_it_whatever_the_settings_say_later(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a job stopped mid-listing by a coordinator that kept it in one chain (the source
    # below its threshold)
    objects = source_objects()
    fill(s3, "src-bucket", objects)
    sent = Sent()
    first = sent.watch(make_runner(batch_max_keys=2))
    first.stop.set()
    assert first.run(job_message("job-1")) is RunEnd.STOPPED
    # WHEN a coordinator whose settings would shard it takes it up
    assert sent.watch(make_runner(**SHARDED)).run(job_message("job-1")) is RunEnd.LISTED
    # THEN it went on in its one chain, with the ids that chain always had
    assert store.listing_shards("job-1") == []
    assert sorted(b.batch_id for b in sent.batches) == [f"job-1:{n:09d}" for n in range(60)]
    copied_to_the_end(store, sqs, resources, copy_all, objects)


def test_a_large_job_of_every_version_is_listed_in_one_chain(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a versioned source of four folders (no folder objects, so a shard's start would be
    # a KeyMarker naming no key, after which moto drops a version) whose keys were written
    # twice, one of them deleted since (a delete marker on top)
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    keys = [f"{folder}/{i}.txt" for folder in FOLDERS for i in range(3)]
    for key in keys:
        for body in (b"first " + key.encode(), b"second " + key.encode()):
            s3.put_object(Bucket="src-bucket", Key=key, Body=body)
    s3.delete_object(Bucket="src-bucket", Key="c/1.txt")
    # WHEN a job copying every version runs with settings that would shard it
    runner = make_runner(**SHARDED)
    assert runner.run(job_message("job-1", versions="all")) is RunEnd.LISTED
    run_copier()
    (status,) = refresh(store, sqs, resources)
    # THEN it was listed in one chain, and every version and the marker counted once
    assert store.listing_shards("job-1") == []
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        2 * len(keys) + 1,
        0,
    )
    # AND each key's history at the destination is the source's
    for key in keys:
        source = s3.list_object_versions(Bucket="src-bucket", Prefix=key)
        copied = s3.list_object_versions(Bucket="dst-bucket", Prefix=key)
        assert len(copied.get("Versions", [])) == len(source.get("Versions", [])) == 2, key
        assert len(copied.get("DeleteMarkers", [])) == len(source.get("DeleteMarkers", [])), key


def test_keys_without_folders_are_cut_at_their_leading_characters(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN a source without folders, every key starting alike ("img_"), then by a letter
    objects = {f"img_{c}{i:03d}.jpg": b"j" * (i + 1) for c in "pqrs" for i in range(20)}
    fill(s3, "src-bucket", objects)
    sent = Sent()
    # WHEN the job runs in shards
    assert sent.watch(make_runner(**SHARDED)).run(job_message("job-1")) is RunEnd.LISTED
    # THEN the cuts are where the keys go on differently, past their common start
    assert [(s.after, s.through) for s in store.listing_shards("job-1")] == [
        (None, "img_q"),
        ("img_q", "img_r"),
        ("img_r", "img_s"),
        ("img_s", None),
    ]
    assert_each_key_once_with_exact_counts(sent, store, objects)
    copied_to_the_end(store, sqs, resources, copy_all, objects)
