"""Fidelity and options end to end: jobs sent with ``s3migrator submit`` to a coordinator and two
copier processes on a moto server keep what each object is (headers, metadata, tags, storage
class, checksum) in one request and in parts, copy exactly what the selection says under a new
prefix, copy every version in order, and pass ``verify`` by ETag and by CRC."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PROPERTIES = {
    "ContentType": "video/mp4",
    "CacheControl": "max-age=60",
    "ContentDisposition": "attachment",
    "ContentLanguage": "en",
    "Metadata": {"owner": "team-a"},
    "StorageClass": "STANDARD_IA",
    "Tagging": "project=apollo&class=secret%20stuff",
}


def submitted(stack: Stack, job_id: str, *args: str) -> dict[str, Any]:
    sent = stack.cli("submit", "--job-id", job_id, *args)
    assert sent.returncode == 0, sent.stderr
    status = stack.wait_for_state(job_id)
    assert status["state"] == "succeeded", stack.dump_logs()
    return status


def kept(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {
        "ContentType": head.get("ContentType"),
        "CacheControl": head.get("CacheControl"),
        "ContentDisposition": head.get("ContentDisposition"),
        "ContentLanguage": head.get("ContentLanguage"),
        "Metadata": head.get("Metadata"),
        "StorageClass": head.get("StorageClass", "STANDARD"),
        "Tags": sorted((t["Key"], t["Value"]) for t in tags),
        "ChecksumCRC32": head.get("ChecksumCRC32"),
    }


def test_options_and_fidelity_hold_end_to_end(stack: Stack) -> None:
    assert stack.cli("deploy").returncode == 0
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    s3 = stack.client("s3")

    # GIVEN a source with a small and a 9 MiB object carrying headers, metadata, tags and a
    # class (the SDK gives each a CRC32), one a pattern leaves out, one too small, one outside
    # the prefix
    s3.create_bucket(Bucket="fidelity-source")
    for key, size in (("keep/clip.mp4", 1000), ("keep/film.mp4", 9 * MiB)):
        s3.put_object(Bucket="fidelity-source", Key=key, Body=os.urandom(size), **PROPERTIES)
    s3.put_object(Bucket="fidelity-source", Key="keep/debug.log", Body=b"left out by pattern")
    s3.put_object(Bucket="fidelity-source", Key="keep/dot", Body=b".")
    s3.put_object(Bucket="fidelity-source", Key="other/x.mp4", Body=b"outside the prefix")

    # WHEN a job copies the prefix under another one, without logs and one-byte objects
    status = submitted(
        stack, "fidelity-1",
        "--source", "s3://fidelity-source/keep/", "--dest", "s3://fidelity-destination/moved/",
        "--exclude", "*.log", "--min-size", "2",
    )  # fmt: skip

    # THEN exactly the two selected objects were copied, each verified as made (the small one
    # by its ETag, the one made in parts by its CRC), and the two left out are counted
    assert (status["objects_total"], status["objects_copied"], status["objects_verified"]) == (
        2,
        2,
        2,
    )
    assert status["skipped"]["filtered"] == 2
    listed = s3.list_objects_v2(Bucket="fidelity-destination")["Contents"]
    assert sorted(o["Key"] for o in listed) == ["moved/clip.mp4", "moved/film.mp4"]
    # AND each copy is its source in all it carries, in one request or in parts alike
    for name in ("clip.mp4", "film.mp4"):
        source = kept(s3, "fidelity-source", f"keep/{name}")
        assert source["ChecksumCRC32"]
        assert kept(s3, "fidelity-destination", f"moved/{name}") == source
    film = s3.head_object(Bucket="fidelity-destination", Key="moved/film.mp4")
    assert film["ETag"].endswith('-2"')  # made in two parts
    # AND verify of the job finds the two sides alike, told by ETag and by CRC
    verified = stack.cli("verify", "fidelity-1", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert (report["objects"], report["skipped"], report["compared_by"]) == (
        2,
        2,
        {"etag": 1, "checksum": 1},
    )


def test_every_version_is_copied_in_order_end_to_end(stack: Stack) -> None:
    assert stack.cli("deploy").returncode == 0
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    s3 = stack.client("s3")

    # GIVEN a versioned source: three versions of one key then a delete marker, and a key with
    # one version
    s3.create_bucket(Bucket="history-source")
    s3.put_bucket_versioning(Bucket="history-source", VersioningConfiguration={"Status": "Enabled"})
    for text in (b"first", b"second", b"third"):
        s3.put_object(Bucket="history-source", Key="doc.txt", Body=text)
    s3.delete_object(Bucket="history-source", Key="doc.txt")
    s3.put_object(Bucket="history-source", Key="one.txt", Body=b"only")

    # WHEN a job copies every version
    status = submitted(
        stack, "history-1",
        "--source", "s3://history-source", "--dest", "s3://history-destination",
        "--versions", "all",
    )  # fmt: skip

    # THEN the destination holds each key's history in the same order, the marker last
    assert status["objects_copied"] == 5

    def history(key: str) -> tuple[list[bytes], list[bool]]:
        """The key's versions' bodies, newest first as S3 lists them, and whether each of its
        delete markers is the latest."""
        answer = s3.list_object_versions(Bucket="history-destination", Prefix=key)
        bodies = [
            s3.get_object(Bucket="history-destination", Key=key, VersionId=v["VersionId"])[
                "Body"
            ].read()
            for v in answer.get("Versions", [])
        ]
        return bodies, [m["IsLatest"] for m in answer.get("DeleteMarkers", [])]

    assert history("doc.txt") == ([b"third", b"second", b"first"], [True])
    assert history("one.txt") == ([b"only"], [])
