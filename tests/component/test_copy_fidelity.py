"""What a copy keeps of its source: headers, user metadata, tags and storage class, whether it
is one CopyObject or a multipart copy (which must be given them on CreateMultipartUpload)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto_helpers import job_message

from copier.objects import ObjectCopier
from s3migrator.aws import Aws
from s3migrator.models import CopySpec, Location
from s3migrator.sessions import s3_clients
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
SPEC = CopySpec(
    job_id="job-1",
    source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
    destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
)
PROPERTIES = {
    "ContentType": "video/mp4",
    "CacheControl": "max-age=60",
    "ContentDisposition": "attachment",
    "ContentLanguage": "en",
    "Metadata": {"owner": "team-a"},
    "StorageClass": "STANDARD_IA",
    "Tagging": "project=apollo&class=secret%20stuff",
}


@pytest.fixture
def copier(aws: Aws, s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier as ``copier.process`` wires it, multipart from 5 MiB."""
    with ThreadPoolExecutor(2) as parts_pool:
        yield ObjectCopier(
            clients=s3_clients(aws, Settings(), default=s3),
            parts_pool=parts_pool,
            multipart_threshold_bytes=5 * MiB,
            part_size_bytes=5 * MiB,
        )


def kept(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key)
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {
        "ContentType": head.get("ContentType"),
        "CacheControl": head.get("CacheControl"),
        "ContentDisposition": head.get("ContentDisposition"),
        "ContentLanguage": head.get("ContentLanguage"),
        "Metadata": head.get("Metadata"),
        "StorageClass": head.get("StorageClass", "STANDARD"),
        "Tags": sorted((t["Key"], t["Value"]) for t in tags),
    }


@pytest.mark.parametrize("size", [1024, 11 * MiB], ids=["single-part", "multipart"])
def test_a_copy_keeps_headers_metadata_and_tags_in_one_request_or_in_parts(
    s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a tagged source object with headers and user metadata
    source, copy = copied(s3, copier, size)
    # THEN its copy keeps them all, whichever way it was copied
    assert source["Tags"] == [("class", "secret stuff"), ("project", "apollo")]
    assert {k: v for k, v in copy.items() if k != "StorageClass"} == {
        k: v for k, v in source.items() if k != "StorageClass"
    }


def test_a_multipart_copy_keeps_the_storage_class(s3: Any, copier: ObjectCopier) -> None:
    # GIVEN a STANDARD_IA source copied in parts
    source, copy = copied(s3, copier, 11 * MiB)
    # THEN the copy is STANDARD_IA too (CreateMultipartUpload is given it)
    assert (source["StorageClass"], copy["StorageClass"]) == ("STANDARD_IA", "STANDARD_IA")


def test_a_job_keeps_each_objects_storage_class_as_listed(
    s3: Any, store: Any, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN sources of three storage classes, small enough for one CopyObject each
    s3.create_bucket(Bucket="src-bucket")
    classes = {"a": "STANDARD", "b": "STANDARD_IA", "c": "GLACIER_IR"}
    for key, kind in classes.items():
        s3.put_object(Bucket="src-bucket", Key=key, Body=b"x", StorageClass=kind)
    # WHEN a job copies them
    make_runner().run(job_message("job-1"))
    copy_all()
    # THEN each copy has its source's class (S3 would write STANDARD for every one otherwise)
    copies = {
        key: s3.head_object(Bucket="dst-bucket", Key=key).get("StorageClass", "STANDARD")
        for key in classes
    }
    assert copies == classes


def copied(s3: Any, copier: ObjectCopier, size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Put a ``size``-byte source with every property, copy it, and read both back."""
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    etag = s3.put_object(Bucket="src-bucket", Key="clip.mp4", Body=os.urandom(size), **PROPERTIES)[
        "ETag"
    ]
    # WHEN it is copied (one CopyObject, or a multipart copy from 5 MiB)
    copier.copy(SPEC, WorkItem(key="clip.mp4", size=size, etag=etag))
    return kept(s3, "src-bucket", "clip.mp4"), kept(s3, "dst-bucket", "clip.mp4")
