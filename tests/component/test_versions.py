"""A job with ``"versions": "all"`` copies every version, oldest first, delete markers too."""

from __future__ import annotations

import os
from typing import Any

from moto_helpers import job_message

from copier.versions import copy_history
from progress.refresh import refresh
from s3migrator.histories import oldest_first
from s3migrator.models import CopySpec, JobState, Location
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"


def versioned_source(s3: Any) -> dict[str, list[bytes | None]]:
    """A versioned source whose keys have histories (None: a delete marker), oldest first."""
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    histories: dict[str, list[bytes | None]] = {
        "a.txt": [b"one", b"two", b"three"],
        "b.txt": [b"first", None],
        "c.txt": [b"only"],
        "m.bin": [os.urandom(9 * MiB), b"small now"],
    }
    for key, history in histories.items():
        for body in history:
            if body is None:
                s3.delete_object(Bucket="src-bucket", Key=key)
            else:
                s3.put_object(Bucket="src-bucket", Key=key, Body=body)
    return histories


def history_of(s3: Any, bucket: str, key: str) -> list[bytes | None]:
    """A key's versions as their bodies, oldest first (None: a delete marker)."""
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    found: list[bytes | None] = []
    for entry in oldest_first(page.get("Versions", []), page.get("DeleteMarkers", [])):
        if entry.get("DeleteMarker"):
            found.append(None)
        else:
            version = entry["VersionId"]
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
            found.append(body)
    return found


def test_every_version_is_copied_in_order_with_its_delete_markers(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a versioned source: rewritten keys, a deleted key, and a key whose first version
    # is copied in parts (moto gives times to the second: no marker between two versions)
    histories = versioned_source(s3)
    # WHEN a job copies every version into a new bucket, in batches of two keys' histories
    make_runner(batch_max_keys=2).run(job_message("job-1", versions="all"))
    run_copier(threshold=8 * MiB, part_size=5 * MiB)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN the destination keeps versions, and each key's history is the source's, in order
    versioning = s3.get_bucket_versioning(Bucket="dst-bucket")
    assert versioning["Status"] == "Enabled"
    for key, history in histories.items():
        assert history_of(s3, "dst-bucket", key) == history, key
    # AND every version and marker counted once, the job done
    record = store.get_job("job-1")
    versions = sum(len(h) for h in histories.values())
    assert (record.listing.objects, record.counters.objects_copied) == (versions, versions)
    assert record.state is JobState.SUCCEEDED


def test_a_history_delivered_again_writes_only_what_is_missing(s3: Any, aws: Any) -> None:
    # GIVEN a key's three versions, of which a first delivery wrote the first two
    histories = versioned_source(s3)
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_bucket_versioning(Bucket="dst-bucket", VersioningConfiguration={"Status": "Enabled"})
    spec = CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
        destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
    )
    page = s3.list_object_versions(Bucket="src-bucket", Prefix="a.txt")
    items = [
        WorkItem(key="a.txt", size=v["Size"], etag=v["ETag"], version_id=v["VersionId"])
        for v in oldest_first(page["Versions"], [])
    ]
    written: list[str] = []

    def copy(spec: CopySpec, item: WorkItem) -> int:
        written.append(item.version_id or "")
        s3.copy_object(
            Bucket="dst-bucket",
            Key=item.key,
            CopySource={"Bucket": "src-bucket", "Key": item.key, "VersionId": item.version_id},
        )
        return item.size

    assert copy_history(s3, copy, spec, items[:2], append=False) == [3, 3]
    # WHEN the whole history is delivered again
    outcomes = copy_history(s3, copy, spec, items, append=False)
    # THEN the two versions already there count as copied, and only the third is written
    assert outcomes == [3, 3, 5]
    assert written == [items[0].version_id, items[1].version_id, items[2].version_id]
    assert history_of(s3, "dst-bucket", "a.txt") == histories["a.txt"]
    # AND a third delivery writes nothing at all
    assert copy_history(s3, copy, spec, items, append=False) == [3, 3, 5]
    assert len(written) == 3


def test_a_destination_that_keeps_no_versions_fails_the_job_with_the_reason(
    s3: Any, store: Any, make_runner: Any
) -> None:
    # GIVEN a versioned source and an existing destination without versioning
    versioned_source(s3)
    s3.create_bucket(Bucket="dst-bucket")
    # WHEN a job asks for every version
    make_runner().run(job_message("job-1", versions="all"))
    # THEN it fails before copying anything, saying why
    record = store.get_job("job-1")
    assert record.state is JobState.FAILED
    assert 'versions "all" needs a versioned destination' in (record.error or "")
    assert "Versions" not in s3.list_object_versions(Bucket="dst-bucket")
