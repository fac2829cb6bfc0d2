"""Streams a source listing as work items, resuming after a checkpointed key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from s3migrator.models import Location
from s3migrator.work import WorkItem, kept_class

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def list_source(s3: S3Client, source: Location, start_after: str | None) -> Iterator[WorkItem]:
    """Every object under the source prefix after ``start_after``, in S3's key order.

    Pages are fetched lazily, so memory stays constant however many keys the bucket holds.
    """
    kwargs: dict[str, Any] = {
        "Bucket": source.bucket,
        "Prefix": source.prefix,
        **source.expected_owner(),
    }
    if start_after is not None:
        kwargs["StartAfter"] = start_after
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        for obj in page.get("Contents", []):
            yield WorkItem(
                key=obj["Key"],
                size=obj["Size"],
                etag=obj["ETag"],
                storage_class=kept_class(obj.get("StorageClass")),
            )


def list_range(s3: S3Client, source: Location, after: str | None, last: str) -> list[WorkItem]:
    """The objects in a listing range as they are now: after ``after`` up to ``last``."""
    found = []
    for item in list_source(s3, source, after):
        if item.key > last:
            break
        found.append(item)
    return found
