"""Verification: the destination holds every source key with the same size and content.

Both sides are listed; each key ends in at most one difference (missing, extra, size, checksum,
content, or unreadable with the reason), and an object that cannot be read never stops the others
from being compared. Content is compared by the cheapest sound evidence: equal ETags (from the
listings, no request), else both sides' CRC of the whole object (one HEAD each; a copy made in
other parts has another ETag but the same CRC), else the bytes, streamed through MD5.
``read_bytes`` streams every object's bytes whatever the rest says.

Example::

    report = verify(verifying_client(aws), Location(bucket="src"), Location(bucket="dst"))
    assert report.ok, report.differences
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.checksums import WholeChecksum, whole_checksum
from s3migrator.models import Location
from s3migrator.selection import ListingPlan, archived

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_s3 import S3Client

    from s3migrator.aws import Aws

_CHUNK = 1024 * 1024
_T = TypeVar("_T")


class Difference(StrEnum):
    MISSING = "missing"  # in the source, not in the destination
    EXTRA = "extra"  # in the destination, not in the source
    SIZE = "size"  # both there, sizes differ
    CHECKSUM = "checksum"  # same size, CRCs of the whole object differ
    CONTENT = "content"  # same size, different bytes
    UNREADABLE = "unreadable"  # a side could not be read; ``detail`` says why


class Evidence(StrEnum):
    """What told that two objects of one size hold the same bytes."""

    ETAG = "etag"  # equal ETags in both listings
    CHECKSUM = "checksum"  # equal CRCs of the whole object
    BYTES = "bytes"  # the bytes of both, streamed through MD5


class Mismatch(BaseModel):
    kind: Difference
    key: str  # relative to the prefixes
    source: str  # s3://bucket/key on the source side
    destination: str  # s3://bucket/key on the destination side
    detail: str = ""


class VerifyReport(BaseModel):
    source: str
    destination: str
    objects: int = 0
    bytes: int = 0
    content_compared: bool = True
    # Source objects the job does not copy (its selection, or archived ones it skips).
    skipped: int = 0
    # How the content of each pair of one size was compared, when it was.
    compared_by: dict[Evidence, int] = {}
    differences: list[Mismatch] = []

    @property
    def ok(self) -> bool:
        return not self.differences

    def keys(self, kind: Difference) -> list[str]:
        return [d.key for d in self.differences if d.kind is kind]

    def counts(self) -> dict[Difference, int]:
        return {kind: len(self.keys(kind)) for kind in Difference if self.keys(kind)}


def verifying_config(aws: Aws) -> Config:
    """The verifier compares the bytes itself, end to end, so botocore's own response checksum
    validation is left to when it is required."""
    return aws.config(response_checksum_validation="when_required")


def verifying_client(aws: Aws, region: str | None = None) -> S3Client:
    """An S3 client for verification (see ``verifying_config``)."""
    return aws.session.client("s3", region_name=region or aws.region, config=verifying_config(aws))


def _sizes(
    s3: S3Client,
    location: Location,
    side: str,
    wanted: Callable[[str, dict[str, Any]], bool] | None = None,
    keep_going: Callable[[], None] = lambda: None,
    **listing: Any,
) -> dict[str, tuple[int, str]]:
    """Every key under the prefix (relative to it) with its size and ETag, but those not
    ``wanted``; errors name the side."""
    sizes = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.prefix, **location.expected_owner(), **listing
        ):
            keep_going()
            for obj in page.get("Contents", []):
                key = obj["Key"][len(location.prefix) :]
                if wanted is None or wanted(key, dict(obj)):
                    sizes[key] = (obj["Size"], obj.get("ETag", ""))
    except PROVIDER_ERRORS as exc:
        raise translate(exc).about(f"cannot list the {side} {location.url}") from exc
    return sizes


def _digest(s3: S3Client, location: Location, key: str, **reading: Any) -> str:
    body = s3.get_object(Bucket=location.bucket, Key=key, **location.expected_owner(), **reading)[
        "Body"
    ]
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: body.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _checksum(s3: S3Client, location: Location, key: str, **reading: Any) -> WholeChecksum | None:
    head = s3.head_object(
        Bucket=location.bucket,
        Key=key,
        ChecksumMode="ENABLED",
        **location.expected_owner(),
        **reading,
    )
    return whole_checksum(head)


def verify(
    s3: S3Client,
    source: Location,
    destination: Location,
    *,
    content: bool = True,
    workers: int = 8,
    destination_s3: S3Client | None = None,
    on_compared: Callable[[int], None] | None = None,
    plan: ListingPlan | None = None,
    payer: dict[str, Any] | None = None,
    read_bytes: bool = False,
    agreed: list[tuple[str, str]] | None = None,
    keep_going: Callable[[], None] = lambda: None,
) -> VerifyReport:
    """Compare keys (relative to each prefix), sizes and, with ``content``, what the objects
    hold (by ETag, CRC or bytes; every byte with ``read_bytes``).

    ``destination_s3`` reads the destination when another account's client is needed there;
    ``on_compared`` is called with each object's size as its content comparison ends. With a
    job's ``plan``, only the source objects the job copies are expected (those its selection
    leaves out, or archived ones it skips, are counted as ``skipped``), and only destination
    keys its patterns name are compared. ``payer``: the source's RequestPayer, when the job pays.
    ``agreed`` is given each pair found alike, content compared: its key and the source's ETag
    as listed (what a migration may delete, ``IfMatch`` that ETag). ``keep_going`` is called
    for each page listed and each object compared (from the comparing threads): a long
    verification keeps its caller's lease with it, and stops by raising.
    """
    dst_s3 = destination_s3 or s3
    skipped = 0

    def copied_by_job(key: str, entry: dict[str, Any]) -> bool:
        nonlocal skipped
        if plan is None:
            return True
        kept = plan.select.selects(
            key, entry["Size"], entry.get("LastModified"), entry.get("StorageClass", "STANDARD")
        ) and not (plan.archived == "skip" and archived(entry))
        skipped += not kept
        return kept

    def named_by_job(key: str, entry: dict[str, Any]) -> bool:
        return plan is None or plan.select.names(key)

    listing = {"OptionalObjectAttributes": ["RestoreStatus"]} if plan is not None else {}
    src_listed = _sizes(s3, source, "source", copied_by_job, keep_going, **listing, **(payer or {}))
    dst_listed = _sizes(dst_s3, destination, "destination", named_by_job, keep_going)
    src = {key: size for key, (size, _) in src_listed.items()}
    dst = {key: size for key, (size, _) in dst_listed.items()}
    report = VerifyReport(
        source=source.url,
        destination=destination.url,
        objects=len(src),
        bytes=sum(src.values()),
        content_compared=content,
        skipped=skipped,
    )

    def mismatch(kind: Difference, key: str, detail: str = "") -> Mismatch:
        return Mismatch(
            kind=kind,
            key=key,
            source=f"s3://{source.bucket}/{source.prefix}{key}" if key in src else "",
            destination=f"s3://{destination.bucket}/{destination.prefix}{key}"
            if key in dst
            else "",
            detail=detail,
        )

    found = [mismatch(Difference.MISSING, k) for k in set(src) - set(dst)]
    found += [mismatch(Difference.EXTRA, k) for k in set(dst) - set(src)]
    same_size = []
    for key in set(src) & set(dst):
        if src[key] != dst[key]:
            found.append(mismatch(Difference.SIZE, key, f"{src[key]} bytes != {dst[key]} bytes"))
        else:
            same_size.append(key)
    if content:

        def both(read: Callable[..., _T], key: str) -> tuple[_T, _T] | Mismatch:
            """``read`` of the key on each side, or what made a side unreadable."""
            try:
                # The source as listed, or an error: what is found alike here is deleted by a
                # migration under the listed ETag, so it must be that object that was read.
                listed = {"IfMatch": src_listed[key][1]} if src_listed[key][1] else {}
                ours = read(s3, source, source.prefix + key, **(payer or {}), **listed)
            except Exception as exc:
                return mismatch(Difference.UNREADABLE, key, f"source: {translate(exc)}")
            try:
                theirs = read(dst_s3, destination, destination.prefix + key)
            except Exception as exc:
                return mismatch(Difference.UNREADABLE, key, f"destination: {translate(exc)}")
            return ours, theirs

        def compare_checksums(key: str) -> Mismatch | Evidence:
            """A mismatch, or CHECKSUM when both sides have one CRC of the whole object and it
            is equal; BYTES when the CRCs cannot tell."""
            read = both(_checksum, key)
            if isinstance(read, Mismatch):
                return read
            ours, theirs = read
            if ours is None or theirs is None or ours.algorithm != theirs.algorithm:
                return Evidence.BYTES
            if ours.value == theirs.value:
                return Evidence.CHECKSUM
            detail = f"{ours.algorithm} {ours.value} != {theirs.value}"
            return mismatch(Difference.CHECKSUM, key, detail)

        def compare_bytes(key: str) -> Mismatch | None:
            read = both(_digest, key)
            if isinstance(read, Mismatch) or read[0] == read[1]:
                return read if isinstance(read, Mismatch) else None
            return mismatch(Difference.CONTENT, key, "bytes differ")

        def compare(key: str) -> tuple[Mismatch | None, Evidence | None]:
            """A pair's difference, if any, and what its content was compared by (None when a
            side could not be read)."""
            try:
                if not read_bytes:
                    if src_listed[key][1] and src_listed[key][1] == dst_listed[key][1]:
                        return None, Evidence.ETAG
                    found = compare_checksums(key)
                    if isinstance(found, Mismatch):
                        unread = found.kind is Difference.UNREADABLE
                        return found, None if unread else Evidence.CHECKSUM
                    if found is Evidence.CHECKSUM:
                        return None, found
                difference = compare_bytes(key)
                unread = difference is not None and difference.kind is Difference.UNREADABLE
                return difference, None if unread else Evidence.BYTES
            finally:
                keep_going()
                if on_compared is not None:
                    on_compared(src[key])

        with ThreadPoolExecutor(workers) as pool:
            compared = list(pool.map(compare, same_size))
        found += [difference for difference, _ in compared if difference is not None]
        if agreed is not None:
            agreed += [
                (key, src_listed[key][1])
                for key, (difference, _) in zip(same_size, compared, strict=True)
                if difference is None
            ]
        by = Counter(evidence for _, evidence in compared if evidence is not None)
        report.compared_by = {evidence: by[evidence] for evidence in Evidence if by[evidence]}
    report.differences = sorted(found, key=lambda m: (m.key, m.kind.value))
    return report
