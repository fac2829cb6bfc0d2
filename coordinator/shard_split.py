"""Where a new job's listing is cut into shards: a few cheap listings of the source, read once
when the job's listing starts (the split is then recorded, and every later run uses it).

First, whether the source is large: up to ``listing_shard_min_keys`` keys are listed (ten
requests at the default). Then the candidates for cuts: the common prefixes under the job's
prefix, those one level further down when there are too few, and, for keys without folders,
the distinct leading characters found by skipping from one to the next (one request each).
Every step is bounded in requests; the policy itself is ``coordinator.shards``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordinator.shards import cuts, past, worth_sharding

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.locations import Location
    from s3migrator.settings import Settings

# Pages of one delimiter listing read at most (1,000 prefixes each), prefixes of the first
# level looked under, and requests spent finding leading characters.
MAX_PREFIX_PAGES = 10
MAX_SECOND_LEVEL = 64
MAX_CHARACTER_PROBES = 128


def split_for(
    s3: S3Client, location: Location, payer: dict[str, Any], settings: Settings
) -> list[str]:
    """The cuts of a new job's listing; none when it keeps one chain."""
    shards = settings.listing_shards
    base: dict[str, Any] = {"Bucket": location.bucket, **location.expected_owner(), **payer}
    if shards < 2 or not _large(s3, base, location.prefix, settings.listing_shard_min_keys):
        return []
    candidates = _prefixes(s3, base, location.prefix)
    if len(candidates) < shards:
        for prefix in list(candidates)[:MAX_SECOND_LEVEL]:
            candidates += _prefixes(s3, base, prefix)
    if len(candidates) < 2:
        # No folders to cut at: the keys' leading characters, under the one folder if any.
        candidates += _leading(s3, base, candidates[0] if candidates else location.prefix)
    return cuts(candidates, shards)


def _large(s3: S3Client, base: dict[str, Any], prefix: str, min_keys: int) -> bool:
    kwargs: dict[str, Any] = {**base, "Prefix": prefix}
    seen = 0
    while True:
        page = s3.list_objects_v2(**kwargs, MaxKeys=min(1000, min_keys))
        seen += page.get("KeyCount", len(page.get("Contents", [])))
        more = bool(page.get("IsTruncated"))
        if not more or seen >= min_keys:
            return worth_sharding(seen, more, min_keys=min_keys, shards=2)
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _prefixes(s3: S3Client, base: dict[str, Any], prefix: str) -> list[str]:
    kwargs: dict[str, Any] = {**base, "Prefix": prefix, "Delimiter": "/"}
    found: list[str] = []
    for _ in range(MAX_PREFIX_PAGES):
        page = s3.list_objects_v2(**kwargs)
        found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    return found


def _leading(s3: S3Client, base: dict[str, Any], prefix: str) -> list[str]:
    """``prefix`` and each next character its keys go on with, going one character deeper
    while they all go on alike (``img_0001``, ``img_0002``...)."""
    found: list[str] = []
    after: str | None = None
    for _ in range(MAX_CHARACTER_PROBES):
        kwargs: dict[str, Any] = {**base, "Prefix": prefix, "MaxKeys": 1}
        if after is not None:
            kwargs["StartAfter"] = after
        contents = s3.list_objects_v2(**kwargs).get("Contents", [])
        if not contents:
            if len(found) != 1:
                return found
            prefix, found, after = found[0], [], None  # one way on: look one deeper
            continue
        key = contents[0]["Key"]
        if len(key) == len(prefix):
            after = key  # the key that is the prefix itself
            continue
        found.append(key[: len(prefix) + 1])
        after = past(found[-1])
    return found
