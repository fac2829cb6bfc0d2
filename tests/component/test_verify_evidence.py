"""``verify`` compares what two objects of one size hold by the cheapest sound evidence: equal
ETags in the listings (no request), else both sides' CRC of the whole object (one HEAD each),
else the bytes. ``--bytes`` reads every byte whatever the rest says."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from moto_helpers import fill, without_checksum

from coordinator.verify import Evidence, verify
from s3migrator.cli import main
from s3migrator.models import Location
from s3migrator.resources import Resources
from s3migrator.settings import MiB


def copy_in_parts(s3: Any, key: str, body: bytes, *, checksum: bool) -> None:
    """Put ``body`` in the destination as two parts (6 MiB and the rest): another ETag than its
    source's, the same CRC32 of the whole object when ``checksum``."""
    client = s3 if checksum else without_checksum(s3)
    algorithm = {"ChecksumAlgorithm": "CRC32"} if checksum else {}
    upload = client.create_multipart_upload(
        Bucket="dst-bucket",
        Key=key,
        **algorithm,
        **({"ChecksumType": "FULL_OBJECT"} if checksum else {}),
    )["UploadId"]
    parts = []
    for number, chunk in enumerate((body[: 6 * MiB], body[6 * MiB :]), start=1):
        answer = client.upload_part(
            Bucket="dst-bucket",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=chunk,
            **algorithm,
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if checksum:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        parts.append(part)
    client.complete_multipart_upload(
        Bucket="dst-bucket", Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


@pytest.fixture
def sides(s3: Any) -> dict[str, bytes]:
    """A source of three objects and their copies: one alike (same ETag), one made in other
    parts with the source's CRC32, one made in other parts without a checksum."""
    bodies = {"alike": b"a" * 100, "crc": os.urandom(7 * MiB), "plain": os.urandom(7 * MiB)}
    fill(s3, "src-bucket", {"alike": bodies["alike"], "crc": bodies["crc"]})
    without_checksum(s3).put_object(Bucket="src-bucket", Key="plain", Body=bodies["plain"])
    fill(s3, "dst-bucket", {"alike": bodies["alike"]})
    copy_in_parts(s3, "crc", bodies["crc"], checksum=True)
    copy_in_parts(s3, "plain", bodies["plain"], checksum=False)
    return bodies


def test_each_pair_is_compared_by_etag_then_crc_then_bytes(
    s3: Any, resources: Resources, sides: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN three copies: alike, made in parts with the CRC32, made in parts without one
    # WHEN they are verified
    code = main(["verify", "s3://src-bucket", "s3://dst-bucket", "--json"])
    # THEN they match, one told by its ETag, one by its CRC, one by reading its bytes
    report = json.loads(capsys.readouterr().out)
    assert (code, report["differences"]) == (0, [])
    assert report["compared_by"] == {"etag": 1, "checksum": 1, "bytes": 1}
    # AND the verdict says so
    assert main(["verify", "s3://src-bucket", "s3://dst-bucket"]) == 0
    assert (
        "verification passed: 3 objects (14.0 MiB) of s3://src-bucket/ are in s3://dst-bucket/"
        " with the same keys, sizes and content (1 by etag, 1 by checksum, 1 by bytes)"
    ) in " ".join(capsys.readouterr().out.split())


def test_with_bytes_every_pair_is_read(
    s3: Any, resources: Resources, sides: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the same sides are verified with --bytes THEN every pair was read
    assert main(["verify", "s3://src-bucket", "s3://dst-bucket", "--bytes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compared_by"] == {"bytes": 3}


def test_a_copy_whose_crc_differs_is_a_checksum_difference(
    s3: Any, resources: Resources, sides: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the copy made in parts replaced by other bytes of the same size, with their CRC32
    other = os.urandom(7 * MiB)
    copy_in_parts(s3, "crc", other, checksum=True)
    # WHEN verified
    code = main(["verify", "s3://src-bucket", "s3://dst-bucket", "--json"])
    # THEN it is the one difference, a checksum one naming both CRCs
    report = json.loads(capsys.readouterr().out)
    source_crc = s3.head_object(Bucket="src-bucket", Key="crc", ChecksumMode="ENABLED")
    copy_crc = s3.head_object(Bucket="dst-bucket", Key="crc", ChecksumMode="ENABLED")
    assert code == 1
    assert [(d["kind"], d["key"], d["detail"]) for d in report["differences"]] == [
        (
            "checksum",
            "crc",
            f"CRC32 {source_crc['ChecksumCRC32']} != {copy_crc['ChecksumCRC32']}",
        )
    ]
    assert source_crc["ChecksumCRC32"] != copy_crc["ChecksumCRC32"]


def test_listings_without_etags_are_compared_by_their_bytes(aws: Any, s3: Any) -> None:
    # GIVEN two objects of one size and other bytes, and an endpoint listing them without ETags
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    plain = without_checksum(s3)
    plain.put_object(Bucket="src-bucket", Key="a.txt", Body=b"AAAA")
    plain.put_object(Bucket="dst-bucket", Key="a.txt", Body=b"BBBB")
    reader = aws.s3()

    def without_etags(parsed: dict[str, Any], **_: Any) -> None:
        for listed in parsed.get("Contents", []):
            listed.pop("ETag", None)

    reader.meta.events.register("after-call.s3.ListObjectsV2", without_etags)
    # WHEN they are verified THEN no ETag is taken as equal: their bytes tell them apart
    report = verify(reader, Location(bucket="src-bucket"), Location(bucket="dst-bucket"))
    assert [(d.kind.value, d.key) for d in report.differences] == [("content", "a.txt")]
    assert report.compared_by == {Evidence.BYTES: 1}
