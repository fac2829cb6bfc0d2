"""An earlier attempt's copy is recognised even when ETags cannot tell (``copier.sameness``).

A source uploaded in parts has an ETag ``"...-N"``; copied in one CopyObject, its copy's ETag is
the plain MD5 of its bytes. A batch delivered again after its count was lost must still count
such an object as copied, under ``never`` and on the last attempt alike, and a different object
of the same size must still be refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from copier.objects import ObjectCopier
from s3migrator.aws import Aws
from s3migrator.errors import PermanentError
from s3migrator.models import CopySpec, Location
from s3migrator.sessions import s3_clients
from s3migrator.settings import GiB, MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
SPEC = CopySpec(
    job_id="job-1",
    source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
    destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
)


@pytest.fixture
def copier(aws: Aws, s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier as ``copier.process`` wires it, copying in one request up to 5 GiB."""
    with ThreadPoolExecutor(2) as parts_pool:
        yield ObjectCopier(
            clients=s3_clients(aws, Settings(), default=s3),
            parts_pool=parts_pool,
            multipart_threshold_bytes=5 * GiB - MiB,
            part_size_bytes=256 * MiB,
        )


def uploaded_in_parts(s3: Any, body: bytes) -> WorkItem:
    """``video.bin`` in the source, uploaded in two parts as most tools upload large files."""
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    upload = s3.create_multipart_upload(Bucket="src-bucket", Key="video.bin")["UploadId"]
    half = len(body) // 2
    parts = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket="src-bucket",
                Key="video.bin",
                UploadId=upload,
                PartNumber=number,
                Body=chunk,
            )["ETag"],
        }
        for number, chunk in ((1, body[:half]), (2, body[half:]))
    ]
    s3.complete_multipart_upload(
        Bucket="src-bucket", Key="video.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    head = s3.head_object(Bucket="src-bucket", Key="video.bin")
    assert head["ETag"].endswith('-2"')
    return WorkItem(key="video.bin", size=len(body), etag=head["ETag"])


def test_a_source_uploaded_in_parts_copied_twice_counts_as_copied(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a source object uploaded in parts, copied once (its copy's ETag is another)
    body = os.urandom(10 * MiB + 7)
    item = uploaded_in_parts(s3, body)
    assert copier.copy(SPEC, item) == len(body)
    copied = s3.head_object(Bucket="dst-bucket", Key="video.bin")["ETag"]
    assert copied != item.etag
    # WHEN the same batch is delivered again (its count was lost) and copies it again
    again = copier.copy(SPEC, item, again=True)
    # THEN S3 refused the write, the bytes were recognised, and it counts as copied
    assert again == len(body)
    assert s3.get_object(Bucket="dst-bucket", Key="video.bin")["Body"].read() == body
    # AND the last attempt's check recognises it too
    assert copier.landed(SPEC, item, by_content=True)
    assert not copier.landed(SPEC, item)


def test_another_object_of_the_same_size_is_still_refused(s3: Any, copier: ObjectCopier) -> None:
    # GIVEN a source uploaded in parts, and a different object of exactly its size at its key
    body = os.urandom(10 * MiB + 7)
    item = uploaded_in_parts(s3, body)
    other = bytearray(body)
    other[-1] ^= 0xFF
    s3.put_object(Bucket="dst-bucket", Key="video.bin", Body=bytes(other))
    # WHEN it is copied under never, by a batch delivered again
    with pytest.raises(PermanentError) as refused:
        copier.copy(SPEC, item, again=True)
    # THEN it is a DestinationExists failure and the other object is left as it was
    assert refused.value.code == "DestinationExists"
    assert s3.get_object(Bucket="dst-bucket", Key="video.bin")["Body"].read() == bytes(other)
    assert not copier.landed(SPEC, item, by_content=True)


def test_on_a_first_delivery_no_byte_is_read_and_an_object_of_another_etag_is_refused(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a source uploaded in parts whose bytes are already at the destination key, put
    # there by someone else (its ETag is another), and every GetObject counted
    body = os.urandom(10 * MiB + 7)
    item = uploaded_in_parts(s3, body)
    s3.put_object(Bucket="dst-bucket", Key="video.bin", Body=body)
    reads: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **_: reads.append("get"))
    # WHEN a batch delivered for the first time copies it (no earlier copy can be the job's)
    with pytest.raises(PermanentError) as refused:
        copier.copy(SPEC, item)
    # THEN it is refused as DestinationExists without reading either object
    assert refused.value.code == "DestinationExists"
    assert reads == []
