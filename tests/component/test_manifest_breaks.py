"""Manifests that once broke a job's promises: sync and selection on rows that lack what the
job decides by, archived objects, files that are no manifest, requester pays, sync's extras.
Each test failed before the reader was made to hold it."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from manifest_helpers import csv_manifest, finished, sized_row
from moto_helpers import fill, job_message

from s3migrator.jobstore import JobStore
from s3migrator.models import JobRecord, JobState
from s3migrator.resources import Resources
from s3migrator.selection import Manifest
from s3migrator.settings import MiB

BIG = 10 * MiB


# 1. sync + CSV rows with size and ETag: the sieve's `unchanged` reads source["LastModified"]
def test_sync_with_a_sized_csv_and_an_object_copied_in_parts(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a big object copied by a first job in parts (the destination's ETag has a '-')
    with freeze_time(datetime.now(UTC) - timedelta(hours=1)):
        fill(s3, "src-bucket", {"big.bin": b"B" * BIG, "a": b"alpha"})
    make_runner().run(job_message("job-1"))
    run_copier(threshold=8 * MiB, part_size=5 * MiB)
    first = finished(store, sqs, resources, "job-1")
    assert first.state is JobState.SUCCEEDED, store.batches.failures("job-1")
    assert "-" in s3.head_object(Bucket="dst-bucket", Key="big.bin")["ETag"]
    # WHEN a sync job reads a CSV naming both with their size and ETag
    rows = [sized_row(s3, "a"), sized_row(s3, "big.bin")]
    manifest = csv_manifest(s3, ("\n".join(rows) + "\n").encode())
    make_runner().run(job_message("job-2", manifest=manifest, sync=True))
    # THEN its listing completes (both are unchanged), with no error
    record = store.get_job("job-2")
    assert record is not None
    assert record.error is None
    assert record.listing.complete


# 2. README: "A named key the source does not hold is a reported failure (NoSuchKey), never left
# out unseen" -- but with a size filter the missing key becomes a 0-byte entry and is filtered.
def test_a_missing_key_with_a_min_size_is_reported_not_filtered(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"alpha"})
    manifest = csv_manifest(s3, b"src-bucket,a\nsrc-bucket,gone\n")
    make_runner().run(job_message(manifest=manifest, select={"min_size": 1}))
    run_copier()
    record = finished(store, sqs, resources)
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 1)
    assert record.listing.tally.filtered == 0


# 3. A CSV row with size and ETag has no storage class: a storage-class selection treats every
# such object as STANDARD, so the objects the user selected are left out as "not selected".
def test_a_storage_class_selection_on_a_sized_csv_selects_the_named_class(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"ia": b"infrequent"}, StorageClass="STANDARD_IA")
    fill(s3, "src-bucket", {"std": b"standard"})
    manifest = csv_manifest(s3, (sized_row(s3, "ia") + "\n" + sized_row(s3, "std") + "\n").encode())
    make_runner().run(job_message(manifest=manifest, select={"storage_classes": ["STANDARD_IA"]}))
    run_copier()
    record = finished(store, sqs, resources)
    # THEN the STANDARD_IA object is copied and the STANDARD one left out, as a listing does
    assert (record.listing.objects, record.listing.tally.filtered) == (1, 1)
    assert record.counters.objects_copied == 1
    assert s3.list_objects_v2(Bucket="dst-bucket")["Contents"][0]["Key"] == "ia"


# 4. archived "skip" (the default): a row that gives the storage class has its archived object
# skipped and counted, as a listing would; without the class, the copy fails, reported.
def test_an_archived_object_named_with_its_class_is_skipped_as_archived(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"cold": b"frozen"}, StorageClass="GLACIER")
    fill(s3, "src-bucket", {"warm": b"readable"})
    rows = [sized_row(s3, "cold") + ",GLACIER", sized_row(s3, "warm") + ",STANDARD"]
    manifest = csv_manifest(s3, ("\n".join(rows) + "\n").encode())
    make_runner().run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    assert record.listing.tally.archived == 1, store.batches.failures("job-1")
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 0)


def test_an_archived_object_named_without_its_class_is_a_reported_failure(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"cold": b"frozen"}, StorageClass="GLACIER")
    fill(s3, "src-bucket", {"warm": b"readable"})
    manifest = csv_manifest(
        s3, (sized_row(s3, "cold") + "\n" + sized_row(s3, "warm") + "\n").encode()
    )
    make_runner().run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 1)
    assert [(f.key, f.code) for f in store.batches.failures("job-1")] == [
        ("cold", "ObjectNotInActiveTierError")
    ]


# 5. archived "restore": a sized CSV row of an archived object is never restored.
def test_an_archived_object_named_by_a_sized_csv_is_restored_when_asked(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"cold": b"frozen"}, StorageClass="GLACIER")
    manifest = csv_manifest(s3, (sized_row(s3, "cold") + "\n").encode())
    make_runner().run(job_message(manifest=manifest, archived="restore"))
    run_copier()
    run_copier()
    record = finished(store, sqs, resources)
    failures = [(f.key, f.code) for f in store.batches.failures("job-1")]
    assert failures == []
    assert record.counters.objects_copied == 1


def refused(store: JobStore, make_runner: Any, manifest: Manifest) -> JobRecord:
    make_runner().run(job_message(manifest=manifest))
    record = store.get_job("job-1")
    assert record is not None
    return record


# 6. bad manifests that are no InvalidJobError: the job is resumed again and again instead of
# failing with the row named.
def test_a_manifest_not_in_utf8_fails_the_job_at_once(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    record = refused(store, make_runner, csv_manifest(s3, "src-bucket,caf\xe9\n".encode("latin-1")))
    assert record.state is JobState.FAILED, (record.state, record.error)


def test_a_gz_manifest_that_is_not_gzip_fails_the_job_at_once(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    record = refused(store, make_runner, csv_manifest(s3, b"src-bucket,a\n", key="k.csv.gz"))
    assert record.state is JobState.FAILED, (record.state, record.error)


def test_a_row_with_a_field_over_128k_fails_the_job_at_once(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    record = refused(store, make_runner, csv_manifest(s3, b"src-bucket," + b"x" * 200_000 + b"\n"))
    assert record.state is JobState.FAILED, (record.state, record.error)


SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"


def inventory(s3: Any, rows: list[str]) -> Manifest:
    name = "inv/data/file-0.csv.gz"
    fill(s3, "inventories", {name: gzip.compress("".join(f"{r}\n" for r in rows).encode())})
    document = {
        "sourceBucket": "src-bucket",
        "destinationBucket": "arn:aws:s3:::inventories",
        "fileFormat": "CSV",
        "fileSchema": SCHEMA,
        "files": [{"key": name}],
    }
    key = "inv/manifest.json"
    fill(s3, "inventories", {key: json.dumps(document).encode()})
    return Manifest(bucket="inventories", key=key)


def test_an_inventory_row_shorter_than_its_schema_fails_the_job_at_once(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    record = refused(store, make_runner, inventory(s3, ['"src-bucket"']))
    assert record.state is JobState.FAILED, (record.state, record.error)


def test_an_inventory_row_with_a_bad_date_fails_the_job_at_once(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    row = '"src-bucket","a","1","yesterday","abc","STANDARD"'
    record = refused(store, make_runner, inventory(s3, [row]))
    assert record.state is JobState.FAILED, (record.state, record.error)


# 7. A UTF-8 BOM (as spreadsheets write): the error says src-bucket is outside src-bucket.
def test_a_csv_with_a_bom_is_read_as_without_it(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    manifest = csv_manifest(s3, "\ufeffsrc-bucket,a\n".encode())
    make_runner().run(job_message(manifest=manifest))
    run_copier()
    record = finished(store, sqs, resources)
    assert (record.state, record.counters.objects_copied) == (JobState.SUCCEEDED, 1)


# 8. An inventory whose report bucket is in another account (a usual central-inventory set-up):
# README says the file must be in the source's account; the 403 is no InvalidJobError, so the
# job is resumed again and again rather than failed saying so.
def test_an_inventory_in_another_account_fails_the_job_at_once(
    aws: Any, s3: Any, store: JobStore, make_runner: Any
) -> None:
    from accounts import Account

    fill(s3, "src-bucket", {"a": b"1"})
    other = Account.enter(aws.session, "222222222222").client("s3")
    other.create_bucket(Bucket="central-inventories")
    other.put_object(
        Bucket="central-inventories", Key="d/f.csv.gz", Body=gzip.compress(b"src-bucket,a\n")
    )
    document = {
        "sourceBucket": "src-bucket",
        "destinationBucket": "arn:aws:s3:::central-inventories",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key",
        "files": [{"key": "d/f.csv.gz"}],
    }
    other.put_object(
        Bucket="central-inventories", Key="manifest.json", Body=json.dumps(document).encode()
    )
    record = refused(
        store, make_runner, Manifest(bucket="central-inventories", key="manifest.json")
    )
    assert record.state is JobState.FAILED, (record.state, record.last_error)


# 9. A requester-pays source: the rows' HeadObjects say RequestPayer, the manifest's GetObject
# does not (a manifest kept in the requester-pays source bucket is refused by S3 with 403).
def test_the_manifest_of_a_requester_pays_source_is_read_as_the_payer(
    aws: Any, s3: Any, store: JobStore, make_runner: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"1", "lists/keys.csv": b"src-bucket,a\n"})
    seen: list[tuple[str, str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, params.get("Key"), params.get("RequestPayer")))

    aws.session.events.register("provide-client-params.s3.GetObject", record)
    aws.session.events.register("provide-client-params.s3.HeadObject", record)
    manifest = Manifest(bucket="src-bucket", key="lists/keys.csv")
    make_runner().run(job_message(manifest=manifest, options={"requester_pays": True}))
    print("SEEN", seen)
    assert ("GetObject", "lists/keys.csv", "requester") in seen, seen


# 10. sync + manifest: a destination object whose source object exists but is not named is
# tallied as "extra" (README: extra = a destination object with no source object at its key).
def test_a_sync_from_a_manifest_counts_no_extra_for_an_object_the_source_holds(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    fill(s3, "src-bucket", {"a": b"alpha", "b": b"bravo"})
    fill(s3, "dst-bucket", {"b": b"bravo"})
    manifest = csv_manifest(s3, b"src-bucket,a\n")
    make_runner().run(job_message(manifest=manifest, sync=True))
    run_copier()
    record = finished(store, sqs, resources)
    assert record.counters.objects_copied == 1
    assert record.listing.tally.extra == 0, record.listing.tally
