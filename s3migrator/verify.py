"""Verification: the destination holds every source key with the same size and content.

Shared by the demo and the tests; content is compared by streaming both objects through MD5, so
multipart copies (whose ETags differ from their source's) are checked byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pydantic import BaseModel

from s3migrator.models import Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class VerifyReport(BaseModel):
    objects: int = 0
    bytes: int = 0
    missing: list[str] = []
    extra: list[str] = []
    size_mismatch: list[str] = []
    content_mismatch: list[str] = []

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.size_mismatch or self.content_mismatch)


def _sizes(s3: S3Client, location: Location) -> Iterator[tuple[str, int]]:
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix
    ):
        for obj in page.get("Contents", []):
            yield obj["Key"][len(location.prefix) :], obj["Size"]


def _digest(s3: S3Client, bucket: str, key: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def verify(
    s3: S3Client,
    source: Location,
    destination: Location,
    *,
    content: bool = True,
    workers: int = 8,
) -> VerifyReport:
    """Compare keys (relative to each prefix), sizes and, with ``content``, the bytes."""
    src = dict(_sizes(s3, source))
    dst = dict(_sizes(s3, destination))
    report = VerifyReport(objects=len(src), bytes=sum(src.values()))
    report.missing = sorted(set(src) - set(dst))
    report.extra = sorted(set(dst) - set(src))
    common = sorted(set(src) & set(dst))
    report.size_mismatch = [k for k in common if src[k] != dst[k]]
    if content:

        def same(key: str) -> bool:
            return _digest(s3, source.bucket, source.prefix + key) == _digest(
                s3, destination.bucket, destination.prefix + key
            )

        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(same, common)
            report.content_mismatch = [k for k, ok in zip(common, results, strict=True) if not ok]
    return report
