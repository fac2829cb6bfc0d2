"""Manifests at their edges: awkward keys and encodings, no rows, an empty key, a key in two
inventory files, a manifest changed between a crash and the resume, a line without end."""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import quote, quote_plus

from manifest_helpers import csv_manifest, finished, sized_row
from moto_helpers import (
    fill,
    job_message,
    resume_falls_due,
    run_killed_before_checkpoint,
)

from coordinator.manifest_reader import MAX_LINE_CHARS
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.selection import Manifest


def copied(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket="dst-bucket").get("Contents", [])}


KEYS = ["a b", "a!", "a+b", "a,b", 'q"uote', "new\nline", "\u00e9", "\U0001f600", "\uff5e", "z"]


def test_awkward_keys_crlf_and_percent20_all_copied(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {k: k.encode() for k in KEYS})
    ordered = sorted(KEYS, key=lambda k: k.encode())
    # half encoded with quote (%20), half with quote_plus (+); CRLF line ends
    rows = [sized_row(s3, k, quote if i % 2 else quote_plus) for i, k in enumerate(ordered)]
    manifest = csv_manifest(s3, ("\r\n".join(rows) + "\r\n").encode())
    make_runner(batch_max_keys=3).run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    assert record.state is JobState.SUCCEEDED, (record.error, store.batches.failures("job-1"))
    assert copied(s3) == set(KEYS)
    assert (record.listing.objects, record.counters.objects_copied) == (len(KEYS), len(KEYS))


def test_raw_quoted_keys_in_csv(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # keys not URL-encoded but CSV-quoted: 'a,b' and a key with a quote
    fill(s3, "src-bucket", {"a,b": b"1", 'b"c': b"2"})
    manifest = csv_manifest(s3, b'src-bucket,"a,b"\nsrc-bucket,"b""c"\n')
    make_runner().run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    assert record.state is JobState.SUCCEEDED, (record.error, store.batches.failures("job-1"))


def test_a_manifest_of_no_rows(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message(manifest=csv_manifest(s3, b"")))
    run_copier()
    record = finished(store, sqs, resources)
    assert record.state is JobState.SUCCEEDED, record
    assert record.listing.objects == 0 and record.listing.complete


def test_an_empty_key_row_fails_the_job_naming_the_row(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message(manifest=csv_manifest(s3, b"src-bucket,\nsrc-bucket,a\n")))
    run_copier()
    record = finished(store, sqs, resources)
    assert (record.state, record.error) == (
        JobState.FAILED,
        "manifest s3://manifests/lists/keys.csv row 1 names no key",
    )


def test_a_duplicate_across_inventory_files_fails_naming_it(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1", "b": b"2"})
    names = []
    for n, rows in enumerate([["src-bucket,a", "src-bucket,b"], ["src-bucket,b"]]):
        name = f"inv/data/f{n}.csv.gz"
        fill(s3, "inventories", {name: gzip.compress("\n".join(rows).encode())})
        names.append({"key": name})
    doc = {
        "sourceBucket": "src-bucket",
        "destinationBucket": "arn:aws:s3:::inventories",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key",
        "files": names,
    }
    fill(s3, "inventories", {"inv/manifest.json": json.dumps(doc).encode()})
    make_runner().run(job_message(manifest=Manifest(bucket="inventories", key="inv/manifest.json")))
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.FAILED
    assert "'b' (entry 3) comes twice" in (record.error or ""), record.error


def test_a_changed_manifest_between_crash_and_resume_counts_exactly(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    clock: Any,
    make_runner: Any,
    run_copier: Any,
) -> None:
    keys = {k: k.encode() for k in "abcdefgh"}
    fill(s3, "src-bucket", keys)
    manifest = csv_manifest(s3, ("".join(sized_row(s3, k) + "\n" for k in "abcdef")).encode())
    runner = make_runner(batch_max_keys=2)
    run_killed_before_checkpoint(runner, job_message(manifest=manifest))
    run_copier()  # the first sends are copied
    # the manifest is rewritten: c and e out, g and h in, and d2 between
    fill(s3, "src-bucket", {"d2": b"d2"})
    csv_manifest(
        s3,
        ("".join(sized_row(s3, k) + "\n" for k in ["a", "b", "d", "d2", "f", "g", "h"])).encode(),
    )
    resume_falls_due(store, clock)
    run = runner.take("job-1", None)
    assert run is not None
    runner.work(run)
    run_copier()
    record = finished(store, sqs, resources)
    done = record.counters.objects_copied + record.counters.objects_failed
    assert record.listing.objects == done, (record.listing, record.counters)
    assert record.state in (JobState.SUCCEEDED, JobState.COMPLETED_WITH_FAILURES)
    assert record.percent <= 100


def test_a_line_without_end_is_refused_before_it_fills_memory(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    # GIVEN a "manifest" of 16 MB on one line
    fill(s3, "src-bucket", {"a": b"1"})
    manifest = csv_manifest(s3, b"x," * 8_000_000)
    # WHEN a job reads it THEN it fails at the first line, read no further than the bound
    make_runner().run(job_message(manifest=manifest))
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.FAILED
    assert record.error == (
        f"manifest s3://manifests/lists/keys.csv line 1 is longer than {MAX_LINE_CHARS}"
        " characters: no row of a manifest is"
    )
