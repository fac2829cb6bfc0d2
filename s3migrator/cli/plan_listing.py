"""What ``plan`` counts: the entries a job of the same selection would enqueue, decided by the
coordinator's own sieve (selection filters, archived objects, a manifest's rows), with what it
leaves out counted by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordinator.sieve import Sieve

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec
    from s3migrator.selection import ListingPlan

Entry = dict[str, Any]


@dataclass
class LeftOut:
    """Objects the selection leaves out, and their bytes, by the sieve's reason (``not
    selected``, ``archived``)."""

    objects: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str, entry: Entry) -> None:
        self.objects[reason] += 1
        self.bytes[reason] += int(entry.get("Size", 0))


def planned_entries(
    s3: S3Client, spec: CopySpec, plan: ListingPlan, left_out: LeftOut
) -> Iterator[Entry]:
    """The entries the job would enqueue, in key order, as a listing gives them."""
    sieve = Sieve(s3, spec, plan, on_skip=left_out.add)
    for item in sieve.items(None):
        yield {
            "Key": item.key,
            "Size": item.size,
            "ETag": item.etag,
            "StorageClass": item.storage_class or "STANDARD",
        }
