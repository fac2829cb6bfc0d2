"""Pure policy of a sharded listing: whether a job's key space is cut, and where.

A listing shard is a key range ``(after, through]`` of the job's location: the first starts at
the location's beginning (``after`` None), the last runs to its end (``through`` None), and each
cut is the ``through`` of one range and the ``after`` of the next. Any strings partition the
key space so, whatever keys exist; the cuts are chosen where keys are likely dense apart: at
the common prefixes of a delimiter listing (every key under ``data/b/`` but ``data/b/`` itself
sorts after it), or at the distinct leading characters of the keys when there are no folders.
Nothing is known of how many keys each candidate holds, so the cuts are spread evenly over
the candidates, in key order.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

# The greatest code point: ``past(p)`` sorts after every key starting with ``p`` that S3 would
# list before p's next sibling (a key would need U+10FFFF right after ``p`` to sort beyond it).
LAST_CHARACTER = "\U0010ffff"


def worth_sharding(seen: int, more: bool, *, min_keys: int, shards: int) -> bool:
    """Whether a listing that found ``seen`` keys (and ``more`` after them) is cut: only with
    more than ``min_keys`` keys and more than one shard allowed. A smaller source keeps one
    listing chain, with the batch ids it always had."""
    return shards > 1 and more and seen >= min_keys


def cuts(candidates: Iterable[str], shards: int) -> list[str]:
    """At most ``shards - 1`` cuts, spread evenly over the distinct candidates in key order;
    none (one chain) with fewer than two candidates. The first candidate is never a cut: the
    first range begins at the location's start and takes it in."""
    found = sorted(set(candidates))
    if shards < 2 or len(found) < 2:
        return []
    chosen: list[str] = []
    for n in range(1, shards):
        index = n * len(found) // shards
        if index >= 1 and found[index] not in chosen:
            chosen.append(found[index])
    return chosen


def ranges(chosen: list[str]) -> list[tuple[str | None, str | None]]:
    """The ranges ``(after, through]`` the cuts make, in key order."""
    bounds: list[str | None] = [None, *chosen, None]
    return list(pairwise(bounds))


def past(prefix: str) -> str:
    """A StartAfter that skips every key starting with ``prefix`` (see ``LAST_CHARACTER``)."""
    return prefix + LAST_CHARACTER


def in_range(key: str, after: str | None, through: str | None) -> bool:
    """Whether ``key`` belongs to the range ``(after, through]``."""
    return (after is None or key > after) and (through is None or key <= through)
