"""The source listing as a job enqueues it: selected, archived objects left out, and, for a sync,
merged with the destination's listing in one pass.

Both listings come in S3's key order (UTF-8 binary, which is code point order), and a
destination key maps to its source key by swapping the prefixes, which keeps that order; so one
merge pass tells new, changed, unchanged and extra objects apart with constant memory. What is
left out is tallied, and the tally as it stood at each key enqueued is kept until the listing's
checkpoint moves past that key, so the counts saved with a checkpoint cover exactly the keys
before it, however far the batching read ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from typing import TYPE_CHECKING, Any, cast

from coordinator.manifest_reader import manifest_entries
from s3migrator.histories import oldest_first
from s3migrator.models import CopySpec
from s3migrator.selection import ListingPlan, Tally, archived
from s3migrator.work import WorkItem, kept_class

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.locations import Location

Entry = dict[str, Any]


def list_entries(
    s3: S3Client,
    location: Location,
    start_after: str | None,
    *,
    restore_status: bool = False,
    payer: dict[str, Any] | None = None,
) -> Iterator[Entry]:
    """Every object under the location's prefix after ``start_after``, page by page."""
    kwargs: dict[str, Any] = {
        "Bucket": location.bucket,
        "Prefix": location.prefix,
        **location.expected_owner(),
    }
    kwargs.update(payer or {})
    if start_after is not None:
        kwargs["StartAfter"] = start_after
    if restore_status:
        kwargs["OptionalObjectAttributes"] = ["RestoreStatus"]
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from cast(list[Entry], page.get("Contents", []))


def histories(
    s3: S3Client, location: Location, start_after: str | None, payer: dict[str, Any]
) -> Iterator[tuple[str, list[Entry]]]:
    """Each key after ``start_after`` with its versions and delete markers, oldest first
    (a delete marker is an entry with ``DeleteMarker``). A key's history may span pages."""
    kwargs: dict[str, Any] = {
        "Bucket": location.bucket,
        "Prefix": location.prefix,
        **location.expected_owner(),
        **payer,
    }
    if start_after is not None:
        kwargs["KeyMarker"] = start_after
    key: str | None = None
    versions: list[Any] = []
    markers: list[Any] = []
    for page in s3.get_paginator("list_object_versions").paginate(**kwargs):
        # Keys come in order, and a key's entries may run on into the next page.
        for name in sorted(
            {e["Key"] for e in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]}
        ):
            if start_after is not None and name <= start_after:
                continue  # some endpoints start at the marker itself
            if name != key:
                if key is not None:
                    yield key, oldest_first(versions, markers)
                key, versions, markers = name, [], []
            versions += [v for v in page.get("Versions", []) if v["Key"] == name]
            markers += [m for m in page.get("DeleteMarkers", []) if m["Key"] == name]
    if key is not None:
        yield key, oldest_first(versions, markers)


def unchanged(source: Entry, destination: Entry, *, kms: bool = False) -> bool:
    """Whether the destination holds the source's object: the same size, and the same ETag or,
    when ETags cannot tell (either was made in parts, or the destination's copies are under
    SSE-KMS: ``kms``), a destination written after the source was."""
    if source["Size"] != destination["Size"]:
        return False
    if source["ETag"] == destination["ETag"]:
        return True
    if "-" not in source["ETag"] and "-" not in destination["ETag"] and not kms:
        return False  # two MD5s of the bytes, and they differ
    # Listings give times to the second: a copy written in the second its source was written
    # again cannot be told from an older one, and is copied once more.
    return bool(destination["LastModified"] > source["LastModified"])


def work_item(entry: Entry) -> WorkItem:
    return WorkItem(
        key=entry["Key"],
        size=entry["Size"],
        etag=entry["ETag"],
        storage_class=kept_class(entry.get("StorageClass")),
    )


@dataclass
class Sieve:
    """Decides, object by object, what a job enqueues; ``destination`` is given for a sync."""

    source: S3Client
    spec: CopySpec
    plan: ListingPlan
    destination: S3Client | None = None
    running: Tally = field(default_factory=Tally)
    # Called now and then while a manifest is read (it keeps the run's lease).
    keep_going: Callable[[], None] | None = None
    # Told of each object left out, and why (``submit --dry-run`` lists them).
    on_skip: Callable[[str, Entry], None] | None = None
    # The tally as it stood when each key still ahead of the checkpoint was enqueued.
    _at: dict[str, Tally] = field(default_factory=dict)

    def items(self, start_after: str | None, through: str | None = None) -> Iterator[WorkItem]:
        """What to enqueue after ``start_after`` (up to ``through``), in key order: copies,
        and, with ``delete_extra``, destination objects to delete (``delete=True``)."""
        for item in self._decide(start_after, through):
            self._at[item.key] = self.running
            yield item

    def through(self, key: str) -> Tally:
        """The tally of everything up to ``key`` (a key enqueued), since ``start_after``."""
        tally = self._at[key]
        while self._at and next(iter(self._at)) <= key:
            del self._at[next(iter(self._at))]
        return tally

    def _decide(self, start_after: str | None, through: str | None) -> Iterator[WorkItem]:
        if self.plan.versions == "all":
            yield from self._versions(start_after, through)
            return
        plan, spec = self.plan, self.spec
        if plan.manifest is not None:
            entries = manifest_entries(
                self.source, plan, spec, start_after, keep_going=self.keep_going
            )
        else:
            entries = list_entries(
                self.source,
                spec.source,
                start_after,
                restore_status=plan.archived != "copy",
                payer=spec.options.source_payer(),
            )
        if through is not None:  # a range listed again: nothing after it is looked at
            entries = takewhile(lambda entry: entry["Key"] <= through, entries)
        kms = spec.destination.kms_key_id is not None
        for entry, there in self._merged(entries, start_after, through):
            if entry is None:
                assert there is not None
                if plan.manifest is not None:
                    continue  # not named: no business of this job, neither extra nor kept
                if plan.select.names(there["Key"][len(spec.source.prefix) :]):
                    if plan.delete_extra:
                        yield WorkItem(
                            key=there["Key"], size=there["Size"], etag=there["ETag"], delete=True
                        )
                    else:
                        self._skip("extra", there, extra=1)
                continue
            relative = entry["Key"][len(spec.source.prefix) :]
            if entry.get("Missing") and plan.select.names(relative):
                yield work_item(entry)  # named, not found: its copy says why, reported
            elif not plan.select.selects(
                relative,
                entry["Size"],
                entry.get("LastModified"),
                entry.get("StorageClass", "STANDARD"),
            ):
                self._skip("not selected", entry, filtered=1)
            elif there is not None and unchanged(entry, there, kms=kms):
                self._skip("unchanged", entry, unchanged=1, unchanged_bytes=entry["Size"])
            elif plan.archived == "skip" and archived(entry):
                self._skip("archived", entry, archived=1, archived_bytes=entry["Size"])
            elif plan.archived == "restore" and archived(entry):
                yield work_item(entry).model_copy(update={"restore": True})
            else:
                yield work_item(entry)

    def _versions(self, start_after: str | None, through: str | None) -> Iterator[WorkItem]:
        """Every version of each key, oldest first, its delete markers among them; the tally
        as of a key is kept once its whole history is decided."""
        plan, spec = self.plan, self.spec
        payer = spec.options.source_payer()
        for key, history in histories(self.source, spec.source, start_after, payer):
            if through is not None and key > through:
                return
            relative = key[len(spec.source.prefix) :]
            for entry in history:
                if entry.get("DeleteMarker"):
                    if plan.select.names(relative):
                        yield WorkItem(
                            key=key, size=0, etag="", version_id=entry["VersionId"], marker=True
                        )
                    else:
                        self._skip("not selected", entry, filtered=1)
                elif not plan.select.selects(
                    relative,
                    entry["Size"],
                    entry.get("LastModified"),
                    entry.get("StorageClass", "STANDARD"),
                ):
                    self._skip("not selected", entry, filtered=1)
                elif plan.archived == "skip" and archived(entry):
                    self._skip("archived", entry, archived=1, archived_bytes=entry["Size"])
                else:
                    yield work_item(entry).model_copy(update={"version_id": entry["VersionId"]})
            if key in self._at:
                self._at[key] = self.running

    def _merged(
        self, entries: Iterator[Entry], start_after: str | None, through: str | None = None
    ) -> Iterator[tuple[Entry | None, Entry | None]]:
        """Each source entry beside the destination's entry for its key (None when it has none),
        and destination entries of no source key beside None; the destination's keys are
        given as source keys, and those after ``through`` are another range's."""
        if self.destination is None:
            for entry in entries:
                yield entry, None
            return
        source, destination = self.spec.source, self.spec.destination
        theirs = list_entries(
            self.destination,
            destination,
            self.spec.destination_key(start_after) if start_after is not None else None,
        )

        def next_there() -> Entry | None:
            there = next(theirs, None)
            if there is not None:
                there = {**there, "Key": source.prefix + there["Key"][len(destination.prefix) :]}
                if through is not None and there["Key"] > through:
                    return None
            return there

        there = next_there()
        for entry in entries:
            while there is not None and there["Key"] < entry["Key"]:
                yield None, there
                there = next_there()
            if there is not None and there["Key"] == entry["Key"]:
                yield entry, there
                there = next_there()
            else:
                yield entry, None
        while there is not None:
            yield None, there
            there = next_there()

    def _skip(self, reason: str, entry: Entry, **counts: int) -> None:
        self.running = self.running.plus(Tally(**counts))
        if self.on_skip is not None:
            self.on_skip(reason, entry)
