"""A copy made in parts keeps its source's CRC of the whole object and is checked against it.

Its ETag cannot tell (other parts make another ETag), so a source with a checksum of its whole
object has its copy's upload created with that algorithm and completed with the source's value;
S3 refuses to assemble anything else (moto does not, so the copier asks the copy's checksum and
compares it itself). A composite checksum holds only for the source's own parts: such copies are
left to ``s3migrator verify``.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto_helpers import job_message, without_checksum

from copier.objects import ObjectCopier
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.errors import PermanentError
from s3migrator.models import CopySpec, JobOptions, JobState, Location, Overwrite
from s3migrator.sessions import s3_clients
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
SIZE = 11 * MiB  # three parts of at most 5 MiB


def spec(overwrite: str = "never", **options: Any) -> CopySpec:
    return CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
        destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
        options=JobOptions(object_lock="ignore", **options),
        overwrite=Overwrite(overwrite),
    )


def crc32(body: bytes) -> str:
    """S3's form of a CRC32: the four bytes, big-endian, in base64."""
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


def upload_in_parts(s3: Any, key: str, body: bytes, algorithm: str, kind: str | None) -> None:
    """Store ``body`` as the source made of two parts (6 MiB and the rest) under a checksum."""
    typed = {"ChecksumType": kind} if kind else {}
    upload = s3.create_multipart_upload(
        Bucket="src-bucket", Key=key, ChecksumAlgorithm=algorithm, **typed
    )["UploadId"]
    parts = []
    for number, chunk in enumerate((body[: 6 * MiB], body[6 * MiB :]), start=1):
        answer = s3.upload_part(
            Bucket="src-bucket",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=chunk,
            ChecksumAlgorithm=algorithm,
        )
        field = f"Checksum{algorithm}"
        parts.append({"PartNumber": number, "ETag": answer["ETag"], field: answer[field]})
    s3.complete_multipart_upload(
        Bucket="src-bucket", Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


def listed(s3: Any, key: str) -> WorkItem:
    head = s3.head_object(Bucket="src-bucket", Key=key)
    return WorkItem(key=key, size=head["ContentLength"], etag=head["ETag"])


def calls(s3: Any) -> list[tuple[str, dict[str, Any]]]:
    """Each request the client sends from now on: its operation and parameters."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    s3.meta.events.register("provide-client-params.s3", keep)
    return sent


@pytest.fixture
def copier(aws: Aws, s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier as ``copier.process`` wires it, in 5 MiB parts from 5 MiB."""
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    with ThreadPoolExecutor(2) as parts_pool:
        yield ObjectCopier(
            clients=s3_clients(aws, Settings(), default=s3),
            parts_pool=parts_pool,
            multipart_threshold_bytes=5 * MiB,
            part_size_bytes=5 * MiB,
        )


@pytest.mark.parametrize("made", ["in-parts", "in-one-put"])
def test_a_copy_made_in_parts_keeps_the_sources_crc_and_is_checked_against_it(
    s3: Any, copier: ObjectCopier, made: str
) -> None:
    # GIVEN an 11 MiB source with a CRC32 of its whole object, uploaded in parts or in one PUT
    body = os.urandom(SIZE)
    if made == "in-parts":
        upload_in_parts(s3, "clip.bin", body, "CRC32", "FULL_OBJECT")
    else:
        s3.put_object(Bucket="src-bucket", Key="clip.bin", Body=body, ChecksumAlgorithm="CRC32")
    sent = calls(s3)
    # WHEN it is copied in three parts (other parts than the source's)
    copied = copier.copy(spec(), listed(s3, "clip.bin"))
    # THEN the upload was made to keep a CRC32 of the whole object, completed with the source's
    ops = dict(sent)
    assert {
        k: ops["CreateMultipartUpload"].get(k) for k in ("ChecksumAlgorithm", "ChecksumType")
    } == {
        "ChecksumAlgorithm": "CRC32",
        "ChecksumType": "FULL_OBJECT",
    }
    completion = ops["CompleteMultipartUpload"]
    assert (completion["ChecksumType"], completion["ChecksumCRC32"]) == ("FULL_OBJECT", crc32(body))
    # AND the copy holds that checksum, and counts as verified as made
    head = s3.head_object(Bucket="dst-bucket", Key="clip.bin", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (crc32(body), "FULL_OBJECT")
    assert (int(copied), copied.verified) == (SIZE, True)


def test_a_copy_made_in_parts_that_is_not_its_source_fails_and_is_removed(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a source with a CRC32 of its whole object
    body = os.urandom(SIZE)
    upload_in_parts(s3, "clip.bin", body, "CRC32", "FULL_OBJECT")

    # AND a fault that copies the second part one byte off (the same length, other bytes)
    def off_by_one(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 2:
            params["CopySourceRange"] = f"bytes={5 * MiB - 1}-{10 * MiB - 2}"

    s3.meta.events.register("provide-client-params.s3.UploadPartCopy", off_by_one)
    # WHEN it is copied in parts
    with pytest.raises(PermanentError) as failed:
        copier.copy(spec(), listed(s3, "clip.bin"))
    # THEN the object fails, saying which checksums differ, and no wrong copy is left behind
    wrong = body[: 5 * MiB] + body[5 * MiB - 1 : 10 * MiB - 1] + body[10 * MiB :]
    assert (failed.value.code, failed.value.message) == (
        "ChecksumMismatch",
        f"the copy's CRC32 was {crc32(wrong)}, its source's {crc32(body)}; the copy was removed",
    )
    assert s3.list_objects_v2(Bucket="dst-bucket")["KeyCount"] == 0


@pytest.mark.parametrize(
    ("algorithm", "kind", "options"),
    [("SHA256", None, {}), ("CRC32", "FULL_OBJECT", {"checksum_algorithm": "CRC32C"})],
    ids=["composite-sha256", "job-chooses-another-algorithm"],
)
def test_a_copy_made_in_parts_without_a_comparable_checksum_is_left_to_verify(
    s3: Any, copier: ObjectCopier, algorithm: str, kind: str | None, options: dict[str, Any]
) -> None:
    # GIVEN a source whose checksum a copy of other parts cannot have (a SHA-256 of parts), or
    # a job that stores its copies under another algorithm
    upload_in_parts(s3, "clip.bin", os.urandom(SIZE), algorithm, kind)
    item = listed(s3, "clip.bin")
    sent = calls(s3)
    # WHEN it is copied in parts
    copied = copier.copy(spec(**options), item)
    # THEN it is copied, not checked by a checksum (no completion checksum, no HEAD of the
    # copy), and not counted as verified
    assert [op for op, _ in sent] == [
        "HeadObject",  # the source
        "HeadObject",  # the destination, under "never"
        "CreateMultipartUpload",
        *["UploadPartCopy"] * 3,
        "CompleteMultipartUpload",
    ]
    assert "ChecksumType" not in dict(sent)["CompleteMultipartUpload"]
    assert (int(copied), copied.verified) == (SIZE, False)


def test_a_job_counts_copies_checked_by_their_checksum_as_verified(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN two 11 MiB sources, one with a CRC32 of its whole object, one without any checksum
    s3.create_bucket(Bucket="src-bucket")
    upload_in_parts(s3, "with-crc.bin", os.urandom(SIZE), "CRC32", "FULL_OBJECT")
    without_checksum(s3).put_object(Bucket="src-bucket", Key="plain.bin", Body=os.urandom(SIZE))
    make_runner().run(job_message("job-1"))
    # WHEN a job copies both in parts
    run_copier(threshold=8 * MiB, part_size=5 * MiB)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN both are copied and the one checked by its checksum counts as verified
    record = store.get_job("job-1")
    assert record.state is JobState.SUCCEEDED
    assert (record.counters.objects_copied, record.counters.objects_verified) == (2, 1)


def test_another_object_written_before_the_check_is_neither_removed_nor_failed(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a source with a CRC32 (the SDK's), and someone who writes the same bytes in the
    # same 5 MiB parts, without a checksum, at the destination key just before the copier asks
    # its copy's checksum (moto's completion does not answer it): the same ETag, no CRC
    body = os.urandom(SIZE)
    s3.put_object(Bucket="src-bucket", Key="clip.bin", Body=body)
    item = listed(s3, "clip.bin")
    other = without_checksum(s3)
    theirs: list[str] = []

    def someone_writes(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") != "dst-bucket" or not params.get("ChecksumMode") or theirs:
            return
        upload = other.create_multipart_upload(Bucket="dst-bucket", Key="clip.bin")["UploadId"]
        parts = [
            {
                "PartNumber": number,
                "ETag": other.upload_part(
                    Bucket="dst-bucket",
                    Key="clip.bin",
                    UploadId=upload,
                    PartNumber=number,
                    Body=body[first : first + 5 * MiB],
                )["ETag"],
            }
            for number, first in enumerate(range(0, SIZE, 5 * MiB), start=1)
        ]
        theirs.append(
            other.complete_multipart_upload(
                Bucket="dst-bucket",
                Key="clip.bin",
                UploadId=upload,
                MultipartUpload={"Parts": parts},
            )["ETag"]
        )

    s3.meta.events.register("provide-client-params.s3.HeadObject", someone_writes)
    # WHEN the copy is made and checked
    copied = copier.copy(spec(overwrite="always"), item)
    # THEN what the check found cannot tell: the copy is left unverified, not failed, and the
    # other object is not removed
    assert (int(copied), copied.verified) == (SIZE, False)
    head = s3.head_object(Bucket="dst-bucket", Key="clip.bin")
    assert head["ETag"] == theirs[0]
    assert s3.get_object(Bucket="dst-bucket", Key="clip.bin")["Body"].read() == body
