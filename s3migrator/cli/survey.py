"""What a job would make of a listing, counted as its coordinator and copiers would make it
(pure: no request is made here, the listing is given).

The input is an iterator of entries as ListObjectsV2 gives them (``Key``, ``Size``, ``ETag``,
``StorageClass``, ``RestoreStatus`` when asked for), so a listing of the source and a manifest's
rows feed it alike. Objects go into batches by the coordinator's own ``pack`` with the settings'
limits, grouped as the listing groups them (``group_is_full``) and sent as it sends them
(``group_for_send``), and each copy is planned by
the copier's ``use_multipart`` and ``plan_parts``: the batch, message and part counts are the
ones the job would make, listed uninterrupted. Memory stays constant in the listing's length.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from coordinator.batching import group_for_send, group_is_full, limits, pack
from coordinator.sieve import work_item
from copier.parts import plan_parts, use_multipart
from s3migrator.models import CopySpec
from s3migrator.selection import archived
from s3migrator.settings import Settings
from s3migrator.work import WorkItem

Entry = dict[str, Any]

KiB = 1024
# SQS bills each 64 KiB of a request's payload as one request.
CHUNK_BYTES = 64 * KiB
LIST_PAGE_KEYS = 1000  # ListObjectsV2's largest page
# Size classes: empty objects, objects below 1 KiB, then powers of 4 up to 1 TiB, then larger.
_BOUNDS = (0, 1, *(4**n for n in range(5, 21)))


@dataclass
class SizeClass:
    """Objects from ``low`` bytes and below ``high`` (None: no bound)."""

    low: int
    high: int | None
    objects: int = 0
    bytes: int = 0


def size_classes() -> list[SizeClass]:
    """The histogram's classes, empty: 0 B, 1 B-1 KiB, 1-4 KiB, ..., 256 GiB-1 TiB, 1 TiB+."""
    classes = [SizeClass(low, high) for low, high in pairwise(_BOUNDS)]
    return [*classes, SizeClass(_BOUNDS[-1], None)]


def size_class(size: int) -> int:
    """The index of the class an object of ``size`` bytes falls in."""
    return bisect_right(_BOUNDS, size) - 1


def chunks(payload_bytes: int) -> int:
    """The requests SQS bills for one request carrying ``payload_bytes``."""
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


@dataclass
class Workload:
    """A listing's objects and the work a job makes of them; rates and prices aside."""

    listed: int = 0  # entries read, archived ones too
    # False when the entries come from a manifest: the source is not listed.
    listing: bool = True
    objects: int = 0  # to copy
    bytes: int = 0
    # Archived (GLACIER, DEEP_ARCHIVE) and not restored: a job skips them unless told otherwise.
    archived: int = 0
    archived_bytes: int = 0
    # Left out by the selection filters (include, exclude, dates, sizes, classes).
    not_selected: int = 0
    not_selected_bytes: int = 0
    largest: int = 0
    single_copies: int = 0  # one CopyObject each
    multipart_copies: int = 0  # HeadObject, CreateMultipartUpload, parts, CompleteMultipartUpload
    parts: int = 0  # UploadPartCopy requests in all
    batches: int = 0
    groups: int = 0  # batches defined in one transaction and sent (``group_is_full``)
    send_calls: int = 0  # SendMessageBatch
    send_chunks: int = 0  # their billed requests
    receive_chunks: int = 0  # each batch received once
    sizes: list[SizeClass] = field(default_factory=size_classes)

    @property
    def pages(self) -> int:
        """Pages of 1,000 entries the coordinator goes through (an empty listing takes one)."""
        return max(1, math.ceil(self.listed / LIST_PAGE_KEYS))

    @property
    def list_pages(self) -> int:
        """ListObjectsV2 requests for the listing; none for a manifest's entries."""
        return self.pages if self.listing else 0


def survey(
    entries: Iterable[Entry],
    spec: CopySpec,
    settings: Settings,
    *,
    listing: bool = True,
    decided: bool = False,
) -> Workload:
    """Count what the job of ``spec`` would do with ``entries`` under ``settings``; not
    ``listing`` when they come from a manifest; ``decided`` when they are what the job's own
    sieve enqueues (archived objects already left out, or kept, as the job says)."""
    work = Workload(listing=listing)
    threshold = spec.options.multipart_threshold_bytes or settings.multipart_threshold_bytes
    part_size = spec.options.part_size_bytes or settings.part_size_bytes

    def to_copy() -> Iterator[WorkItem]:
        for entry in entries:
            work.listed += 1
            size = int(entry["Size"])
            if not decided and archived(entry):
                work.archived += 1
                work.archived_bytes += size
                continue
            work.objects += 1
            work.bytes += size
            work.largest = max(work.largest, size)
            counted = work.sizes[size_class(size)]
            counted.objects += 1
            counted.bytes += size
            # As the copier decides (copier.objects): an empty object is one CopyObject.
            if use_multipart(size, threshold) and size > 0:
                work.multipart_copies += 1
                work.parts += len(plan_parts(size, part_size))
            else:
                work.single_copies += 1
            yield work_item(entry)

    group: list[str] = []
    keys = 0

    def send() -> None:
        nonlocal keys
        work.groups += 1
        for call in group_for_send(group, max_total_bytes=settings.message_max_bytes):
            work.send_calls += 1
            work.send_chunks += chunks(sum(len(body) for body in call))  # ASCII bodies
        group.clear()
        keys = 0

    for batch in pack(to_copy(), spec, first_seq=0, **limits(settings)):
        body = batch.body()
        work.batches += 1
        work.receive_chunks += chunks(len(body))
        group.append(body)
        keys += len(batch.items)
        if group_is_full(len(group), keys):  # as the coordinator defines and sends them
            send()
    if group:
        send()
    return work
