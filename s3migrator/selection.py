"""Which source objects a job copies: selection filters, archived objects, sync.

A job's listing plan is the coordinator's alone (copiers never see it), so it lives in the job's
record, not in every batch. Everything here is pure: the coordinator and ``submit --dry-run``
decide with the same functions, so a dry run prints what the job would do.

Key patterns are globs matched against the key relative to the source prefix: ``*`` matches
within one path segment, ``**`` across segments, ``?`` one character but ``/``, ``[...]`` one
of a set. A pattern without ``/`` matches the key's last segment (``*.csv`` selects
``2024/01/a.csv``), as in ``.gitignore``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from s3migrator.job_options import StorageClass
from s3migrator.names import BucketName

MAX_PATTERNS = 100
MAX_PATTERN_CHARS = 1024
# Classes whose objects cannot be read until restored.
ARCHIVED_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})

Pattern = Field(min_length=1, max_length=MAX_PATTERN_CHARS)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression a key pattern stands for (see the module's docstring)."""
    out = [] if "/" in pattern else ["(?:.*/)?"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):  # any number of whole segments, none included
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1 : end]
            negate = body[0] in "!^"
            body = re.sub(r"([\\\]^\[])", r"\\\1", body[1:] if negate else body)
            out.append(f"[{'^/' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_end(pattern: str, start: int) -> int:
    """Where the ``[...]`` set opened at ``start`` closes (a ``]`` first in it is literal);
    0 when it does not close (the ``[`` is then literal)."""
    first = start + 1
    if pattern[first : first + 1] in ("!", "^") and first < len(pattern):
        first += 1
    end = pattern.find("]", first + 1)
    return end if end > 0 else 0


class Selection(BaseModel):
    """Filters on the source's objects; an object is copied when it passes every one given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[str] = Field(default=[], max_length=MAX_PATTERNS)
    exclude: list[str] = Field(default=[], max_length=MAX_PATTERNS)
    modified_after: AwareDatetime | None = None
    modified_before: AwareDatetime | None = None
    min_size: int | None = Field(default=None, ge=0)
    max_size: int | None = Field(default=None, ge=0)
    storage_classes: list[StorageClass] = Field(default=[], max_length=8)

    @model_validator(mode="after")
    def _consistent(self) -> Selection:
        for pattern in (*self.include, *self.exclude):
            if not pattern or len(pattern) > MAX_PATTERN_CHARS or "\x00" in pattern:
                raise ValueError(f"invalid key pattern {pattern[:80]!r}")
        low, high = self.min_size, self.max_size
        if low is not None and high is not None and low > high:
            raise ValueError("min_size is larger than max_size: nothing could be selected")
        after, before = self.modified_after, self.modified_before
        if after is not None and before is not None and after >= before:
            raise ValueError("modified_after is not before modified_before")
        return self

    @cached_property
    def _included(self) -> list[re.Pattern[str]]:
        return [glob_regex(p) for p in self.include]

    @cached_property
    def _excluded(self) -> list[re.Pattern[str]]:
        return [glob_regex(p) for p in self.exclude]

    def names(self, relative_key: str) -> bool:
        """Whether the key patterns select this key (relative to the source prefix)."""
        if self._included and not any(p.fullmatch(relative_key) for p in self._included):
            return False
        return not any(p.fullmatch(relative_key) for p in self._excluded)

    def selects(
        self, relative_key: str, size: int, modified: datetime | None, storage_class: str
    ) -> bool:
        if not self.names(relative_key):
            return False
        if self.min_size is not None and size < self.min_size:
            return False
        if self.max_size is not None and size > self.max_size:
            return False
        if modified is not None:
            if self.modified_after is not None and modified <= self.modified_after:
                return False
            if self.modified_before is not None and modified >= self.modified_before:
                return False
        return not self.storage_classes or storage_class in self.storage_classes

    @property
    def empty(self) -> bool:
        return self == Selection()


class Manifest(BaseModel):
    """The keys a job copies, read from a file instead of listing the source.

    ``csv``: rows ``bucket,key[,size,etag[,storage class]]``, keys URL-encoded, as S3 Batch
    Operations and S3 Inventory write them; a row that lacks what the job decides by costs one
    HeadObject (see ``coordinator.manifest_reader``). ``inventory``: an
    S3 Inventory report's ``manifest.json``, whose CSV files are read. Either way the keys come
    in S3's key order (a CSV in that order; an inventory's files merged). Unset, ``format`` is
    ``inventory`` for a key ending in ``manifest.json`` and ``csv`` otherwise. The file is read
    with the source's access, in the source's account.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: BucketName
    key: str = Field(min_length=1, max_length=1024)
    format: Literal["csv", "inventory"] | None = None

    @model_validator(mode="after")
    def _format_from_name(self) -> Manifest:
        if self.format is None:
            kind = "inventory" if self.key.endswith("manifest.json") else "csv"
            object.__setattr__(self, "format", kind)  # frozen model
        return self

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ListingPlan(BaseModel):
    """What a job's listing enqueues: the selected objects, less the archived ones (unless
    ``archived`` is ``copy``), less, with ``sync``, those the destination already holds; with
    ``delete_extra``, destination objects missing from the source are deleted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    select: Selection = Selection()
    sync: bool = False
    delete_extra: bool = False
    archived: Literal["skip", "copy", "restore"] = "skip"
    # "all": every version of every object, oldest first, delete markers included.
    versions: Literal["current", "all"] = "current"
    # The keys come from this file instead of a listing of the source.
    manifest: Manifest | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ListingPlan:
        if self.delete_extra and not self.sync:
            raise ValueError("delete_extra needs sync: true (it deletes what the sync finds extra)")
        if self.versions == "all" and self.archived == "restore":
            raise ValueError('versions "all" does not restore archived versions: archived "skip"')
        if self.manifest is not None and self.versions == "all":
            raise ValueError('a manifest names current objects: versions "all" lists the source')
        if self.manifest is not None and self.delete_extra:
            raise ValueError(
                "delete_extra deletes what the source lacks; with a manifest, whatever it does"
                " not name would be deleted: leave delete_extra out"
            )
        if self.sync and self.versions == "all":
            raise ValueError(
                'versions "all" copies a key\'s history once; it cannot be combined with sync'
            )
        return self


# A job recorded before listing plans existed: every object, archived ones attempted.
EVERYTHING = ListingPlan(archived="copy")


def archived(entry: dict[str, Any]) -> bool:
    """Whether a listed object is archived and not restored (it cannot be copied as it is).

    A restored object shows ``RestoreStatus`` with an expiry date when the listing asks for it
    (``OptionalObjectAttributes``). Intelligent-Tiering's archive tiers do not show in a listing:
    such an object fails its copy with a reason instead.
    """
    if entry.get("StorageClass") not in ARCHIVED_CLASSES:
        return False
    restore = entry.get("RestoreStatus") or {}
    return restore.get("IsRestoreInProgress", True) or "RestoreExpiryDate" not in restore


class Tally(BaseModel):
    """What a listing left out, counted exactly up to its checkpoint."""

    filtered: int = 0
    archived: int = 0
    archived_bytes: int = 0
    unchanged: int = 0
    unchanged_bytes: int = 0
    # Destination objects missing from the source (deleted when the job says delete_extra).
    extra: int = 0

    def plus(self, other: Tally) -> Tally:
        return Tally(
            **{name: getattr(self, name) + getattr(other, name) for name in Tally.model_fields}
        )

    def minus(self, other: Tally) -> Tally:
        return Tally(
            **{name: getattr(self, name) - getattr(other, name) for name in Tally.model_fields}
        )
