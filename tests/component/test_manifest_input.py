"""A job that reads its keys from a manifest (a CSV, or an S3 Inventory report) instead of
listing its source: coordinator, copier and progress on moto, in-process.

The manifests are written as S3 Batch Operations and S3 Inventory write them: keys
URL-encoded, an inventory's data files gzipped CSV named by its ``manifest.json``.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pytest
from freezegun import freeze_time
from manifest_helpers import csv_manifest, finished, sized_row
from moto_helpers import (
    fill,
    job_message,
    receive_all,
    resume_falls_due,
    run_killed_before_checkpoint,
)

from coordinator import manifest_reader
from coordinator.jobs import RunEnd
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.selection import Manifest

SCHEMA = (
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"
)


def keys_in(s3: Any, bucket: str) -> dict[str, bytes]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def rows_manifest(s3: Any, rows: list[str], key: str = "lists/keys.csv") -> Manifest:
    return csv_manifest(s3, "".join(f"{row}\n" for row in rows).encode(), key)


def inventory_row(s3: Any, key: str, *, latest: bool = True, marker: bool = False) -> str:
    head = s3.head_object(Bucket="src-bucket", Key=key)
    cells = [
        "src-bucket",
        quote_plus(key),
        "v1",
        "true" if latest else "false",
        "true" if marker else "false",
        str(head["ContentLength"]),
        "2026-01-02T03:04:05.000Z",
        head["ETag"].strip('"'),  # an inventory gives the ETag unquoted
        "STANDARD",
    ]
    return ",".join(f'"{cell}"' for cell in cells)


def inventory(s3: Any, files: list[list[str]], *, file_format: str = "CSV") -> Manifest:
    """An inventory report of src-bucket in bucket "inventories": its data files, gzipped, and
    its manifest.json naming them."""
    names = []
    for number, rows in enumerate(files):
        name = f"inv/src-bucket/daily/data/file-{number}.csv.gz"
        fill(s3, "inventories", {name: gzip.compress("".join(f"{r}\n" for r in rows).encode())})
        names.append({"key": name, "size": 1, "MD5checksum": "0"})
    document = {
        "sourceBucket": "src-bucket",
        "destinationBucket": "arn:aws:s3:::inventories",
        "version": "2016-11-30",
        "fileFormat": file_format,
        "fileSchema": SCHEMA,
        "files": names,
    }
    key = "inv/src-bucket/daily/2026-01-02T01-00Z/manifest.json"
    fill(s3, "inventories", {key: json.dumps(document).encode()})
    return Manifest(bucket="inventories", key=key)


SUMMER = "\u00e9t\u00e9/x"
SOURCE = {
    "a": b"alpha",
    "b c": b"with a space",
    "plus+sign": b"a plus in its name",
    "z-not-named": b"left where it is",
    SUMMER: b"not ascii",
}


def test_a_csv_manifest_copies_exactly_the_keys_it_names(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a source, and a CSV naming four of its five keys in S3's order: two with their
    # size and ETag, two without (each then looked up once)
    fill(s3, "src-bucket", SOURCE)
    rows = [
        sized_row(s3, "a"),
        "src-bucket,b+c",
        sized_row(s3, "plus+sign"),
        f"src-bucket,{quote_plus(SUMMER)}",
    ]
    manifest = rows_manifest(s3, rows)
    # WHEN a job reads it, two keys a batch, and a copier drains the batches
    make_runner(batch_max_keys=2).run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    # THEN exactly the named objects are copied, byte for byte, and counted once each
    assert keys_in(s3, "dst-bucket") == {k: v for k, v in SOURCE.items() if k != "z-not-named"}
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.listing.next_seq) == (4, 2)
    assert record.listing.bytes == sum(len(v) for k, v in SOURCE.items() if k != "z-not-named")
    assert (record.counters.objects_copied, record.counters.objects_failed) == (4, 0)


def test_an_inventory_report_is_read_across_its_files_in_key_order(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN an inventory report of versions in two files, each in key order, their keys
    # interleaved; an older version and a delete marker among the rows
    fill(s3, "src-bucket", {key: key.encode() for key in "abcdef"})
    first = [inventory_row(s3, "a"), inventory_row(s3, "c", latest=False), inventory_row(s3, "e")]
    second = [inventory_row(s3, "b"), inventory_row(s3, "d", marker=True), inventory_row(s3, "f")]
    manifest = inventory(s3, [first, second])
    # WHEN a job reads the report, two keys a batch
    make_runner(batch_max_keys=2).run(job_message(manifest=manifest))
    (batch_one, batch_two) = sorted(
        json.loads(m["Body"])["batch_id"] for m in receive_all(sqs, resources.work_queue_url)
    )
    # THEN its batches hold the current objects in key order, as a listing's would
    record = store.get_job("job-1")
    assert record is not None
    assert store.batches.get_many("job-1", [batch_one, batch_two])[batch_two].last == "f"
    assert (record.listing.objects, record.listing.start_after) == (4, "f")


def test_an_inventory_job_copies_the_current_objects_and_skips_older_rows(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN the same report
    fill(s3, "src-bucket", {key: key.encode() for key in "abcdef"})
    first = [inventory_row(s3, "a"), inventory_row(s3, "c", latest=False), inventory_row(s3, "e")]
    second = [inventory_row(s3, "b"), inventory_row(s3, "d", marker=True), inventory_row(s3, "f")]
    # WHEN the job runs to its end
    make_runner(batch_max_keys=2).run(job_message(manifest=inventory(s3, [first, second])))
    run_copier()
    record = finished(store, sqs, resources)
    # THEN the current objects are copied, the older version and the delete marker are not
    assert keys_in(s3, "dst-bucket") == {key: key.encode() for key in "abef"}
    assert (record.state, record.counters.objects_copied) == (JobState.SUCCEEDED, 4)


def test_a_job_killed_before_its_checkpoint_sends_the_same_batches_again(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN a manifest job whose first run dies after sending its group, before its checkpoint
    fill(s3, "src-bucket", SOURCE)
    manifest = rows_manifest(s3, [sized_row(s3, key) for key in sorted(SOURCE)])
    runner = make_runner(batch_max_keys=2)
    run_killed_before_checkpoint(runner, job_message(manifest=manifest))
    sent_first = sorted(
        json.loads(m["Body"])["batch_id"] for m in receive_all(sqs, resources.work_queue_url)
    )
    # WHEN the resume runs, the range of each batch is read again from the manifest
    resume_falls_due(store, clock)
    run = runner.take("job-1", None)
    assert run is not None
    runner.work(run)
    run_copier()
    record = finished(store, sqs, resources)
    # THEN the batches went again under the same ids, and every object is counted once
    assert sent_first == ["job-1:000000000", "job-1:000000001", "job-1:000000002"]
    assert keys_in(s3, "dst-bucket") == SOURCE
    assert (record.listing.objects, record.counters.objects_copied) == (5, 5)
    assert record.state is JobState.SUCCEEDED


def test_a_named_object_the_source_lacks_is_reported_not_left_out(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a manifest naming a key the source does not hold (without its size and ETag)
    fill(s3, "src-bucket", {"a": b"alpha"})
    manifest = rows_manifest(s3, ["src-bucket,a", "src-bucket,gone"])
    # WHEN the job runs
    make_runner().run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    # THEN the missing key is a reported failure with S3's reason; the other is copied
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 1)
    (failure,) = store.batches.failures("job-1")
    assert (failure.key, failure.code) == ("gone", "NoSuchKey")


def test_a_date_selection_reads_each_rows_date_from_the_source(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN one object written in 2020 and one now, and a CSV giving their sizes and ETags
    # (but no dates)
    s3.create_bucket(Bucket="src-bucket")
    with freeze_time("2020-01-01"):
        s3.put_object(Bucket="src-bucket", Key="old", Body=b"old")
    s3.put_object(Bucket="src-bucket", Key="young", Body=b"young")
    manifest = rows_manifest(s3, [sized_row(s3, "old"), sized_row(s3, "young")])
    # WHEN a job of that manifest selects objects modified after 2021
    select = {"modified_after": datetime(2021, 1, 1, tzinfo=UTC)}
    make_runner().run(job_message(manifest=manifest, select=select))
    run_copier()
    record = finished(store, sqs, resources)
    # THEN the old object is left out as filtered, not copied for want of a date
    assert keys_in(s3, "dst-bucket") == {"young": b"young"}
    assert (record.listing.objects, record.listing.tally.filtered) == (1, 1)


def refused(store: JobStore, make_runner: Any, manifest: Manifest) -> str:
    """The job's error after its run, which must have failed it."""
    make_runner().run(job_message(manifest=manifest))
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.FAILED
    return record.error or ""


def test_keys_out_of_order_fail_the_job_naming_them(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1", "b": b"2"})
    error = refused(store, make_runner, rows_manifest(s3, ["src-bucket,b", "src-bucket,a"]))
    assert error == (
        "manifest s3://manifests/lists/keys.csv: key 'a' (entry 2) comes after 'b'; a manifest"
        " names each key once, in the order S3 lists them (sorted by their UTF-8 bytes)"
    )


def test_a_row_outside_the_source_fails_the_job(s3: Any, store: JobStore, make_runner: Any) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    error = refused(store, make_runner, rows_manifest(s3, ["other-bucket,a"]))
    assert error == (
        "manifest s3://manifests/lists/keys.csv row 1 names s3://other-bucket/a, outside the"
        " job's source s3://src-bucket/"
    )


def test_a_missing_manifest_fails_the_job_with_its_name(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    s3.create_bucket(Bucket="manifests")
    error = refused(store, make_runner, Manifest(bucket="manifests", key="none.csv"))
    assert error.startswith("the manifest's s3://manifests/none.csv cannot be read: NoSuchKey")


def test_an_inventory_in_parquet_is_refused_with_what_to_do(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    manifest = inventory(s3, [[inventory_row(s3, "a")]], file_format="Parquet")
    error = refused(store, make_runner, manifest)
    assert "lists Parquet files; s3migrator reads an inventory's CSV files" in error


def test_reading_a_long_manifest_keeps_the_runs_lease(
    s3: Any,
    store: JobStore,
    clock: Any,
    make_runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a manifest of 30 rows, the lease kept at every row read, and a clock that moves
    # two thirds of a lease on with every HeadObject (a slow read of a long manifest)
    monkeypatch.setattr(manifest_reader, "KEEP_EVERY_ROWS", 1)
    monkeypatch.setattr(manifest_reader, "HEAD_CHUNK", 1)
    keys = {f"k{i:02d}": b"x" for i in range(30)}
    fill(s3, "src-bucket", keys)
    manifest = rows_manifest(s3, [f"src-bucket,{key}" for key in keys])
    runner = make_runner(lease_s=60)
    real_head = runner.clients.default.head_object

    taken = []

    def slow_head(**kwargs: Any) -> Any:
        clock.advance(40)
        # another coordinator tries to take the job, as it would once the lease ran out
        taken.append(store.acquire_lease("job-1", "another-run", 60))
        return real_head(**kwargs)

    monkeypatch.setattr(runner.clients.default, "head_object", slow_head)
    # WHEN the job reads it in one run
    end = runner.run(job_message(manifest=manifest))
    # THEN the run kept its lease throughout (no other run could take it) and listed every row
    record = store.get_job("job-1")
    assert record is not None
    assert taken == [False] * 30
    assert (end, record.listing.objects, record.listing.complete) == (RunEnd.LISTED, 30, True)
