"""A key's versions and delete markers in the order they were written.

ListObjectVersions gives a key's versions and its delete markers as two lists, each newest
first, with times to the second. Merged by time, at equal times the key's latest entry is its
newest, and a delete marker is taken as older than the versions beside it: a marker written
between two versions within one second may be put before both (S3's XML interleaves the two
kinds in order, but not every endpoint does, so the order is not read from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Entry = dict[str, Any]


def oldest_first(versions: Iterable[Any], markers: Iterable[Any]) -> list[Entry]:
    """One key's entries, oldest first; a delete marker's entry has ``DeleteMarker`` set."""
    entries: list[Entry] = [dict(v) for v in versions]
    entries += [{**m, "DeleteMarker": True} for m in markers]
    newest_first = sorted(
        entries, key=lambda e: (-e["LastModified"].timestamp(), not e.get("IsLatest", False))
    )
    return newest_first[::-1]
