"""A sorted key index for the bench server's ListObjectsV2.

moto answers every ListObjectsV2 page by walking and sorting the whole bucket, so a page costs
O(bucket size) and listing a million keys costs a thousand full sorts: the server, not the
lister, would be measured. S3 keeps its keys in order; so does this index. Each bucket's sorted
key names are kept beside it and rebuilt only after the bucket's set of keys changed (moto's key
store is wrapped to bump a per-bucket generation), and a page is found by bisection. Pages with
a delimiter, and versioned buckets, take moto's own path unchanged.

Its generic XML serializer, too, costs more per key than the rest of the request: plain pages
(no delimiter, owner or checksum) are written by ``render_page`` as S3 writes them.
"""

from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

_PATCHED = "_bench_patched"
# id(key store) -> (generation, sorted key names)
_generations: dict[int, int] = {}
_indexes: dict[int, tuple[int, list[str]]] = {}


def _bumping(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        _generations[id(self)] = _generations.get(id(self), 0) + 1
        return method(self, *args, **kwargs)

    setattr(call, _PATCHED, True)
    return call


def _sorted_names(store: Any) -> list[str]:
    generation = _generations.get(id(store), 0)
    cached = _indexes.get(id(store))
    if cached is None or cached[0] != generation:
        cached = (generation, sorted(dict.keys(store)))
        _indexes[id(store)] = cached
    return cached[1]


def install() -> None:
    """Patch moto's S3 backend in this process (idempotent)."""
    from moto.s3.models import FakeDeleteMarker, S3Backend
    from moto.s3.utils import _VersionedKeyStore

    for name in ("__setitem__", "pop", "setlist", "__delitem__"):
        method = getattr(_VersionedKeyStore, name)
        if not getattr(method, _PATCHED, False):
            setattr(_VersionedKeyStore, name, _bumping(method))
    original = S3Backend.list_objects_v2
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def list_objects_v2(
        self: Any,
        bucket: Any,
        prefix: str | None,
        delimiter: str | None,
        continuation_token: str | None,
        start_after: str | None,
        max_keys: int,
    ) -> Any:
        if delimiter or bucket.is_versioned or max_keys <= 0:
            return original(
                self, bucket, prefix, delimiter, continuation_token, start_after, max_keys
            )
        names = _sorted_names(bucket.keys)
        after = (
            self._pagination_tokens.get(continuation_token) if continuation_token else start_after
        )
        start = bisect.bisect_right(names, after) if after else 0
        if prefix:
            start = max(start, bisect.bisect_left(names, prefix))
        page: list[Any] = []
        # One more than asked, so that moto's own truncation says whether more follow.
        for name in names[start:]:
            if prefix and not name.startswith(prefix):
                break
            key = bucket.keys.get(name)
            if key is None or isinstance(key, FakeDeleteMarker):
                continue
            page.append(key)
            if len(page) > max_keys:
                break
        return self._truncate_result(page, max_keys)

    setattr(list_objects_v2, _PATCHED, True)
    backend: Any = S3Backend  # patched here: typed as any class may be
    backend.list_objects_v2 = list_objects_v2
    backend.moto_list_objects_v2 = original


def page_cost_ms(bucket_name: str, start_after: str, repeat: int = 3) -> tuple[float, float]:
    """(moto's own, the index's) milliseconds for one 1,000-key page after ``start_after``."""
    from moto.s3.models import s3_backends

    backend: Any = s3_backends["123456789012"]["global"]
    bucket = backend.get_bucket(bucket_name)
    timings = []
    for method in (backend.moto_list_objects_v2, backend.list_objects_v2):
        started = time.perf_counter()
        for _ in range(repeat):
            method(bucket, None, None, None, start_after, 1000)
        timings.append(1000 * (time.perf_counter() - started) / repeat)
    return timings[0], timings[1]


_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _text(value: Any) -> str:
    return escape(str(value), {'"': "&quot;"})


def render_page(result: dict[str, Any]) -> str:
    """A ListObjectsV2 answer as S3 writes it, for a page without delimiter: moto's generic
    serializer spends ~0.2 ms a key on it, more than the whole rest of the request."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_S3_NS}">']
    for name in ("Name", "Prefix", "MaxKeys", "KeyCount"):
        parts.append(f"<{name}>{_text(result[name])}</{name}>")
    parts.append(f"<IsTruncated>{str(result['IsTruncated']).lower()}</IsTruncated>")
    for name in ("EncodingType", "NextContinuationToken", "StartAfter", "ContinuationToken"):
        if result.get(name):
            parts.append(f"<{name}>{_text(result[name])}</{name}>")
    for item in result["Contents"]:
        parts.append(
            f"<Contents><Key>{_text(item['Key'])}</Key>"
            f"<LastModified>{item['LastModified']}</LastModified>"
            f"<ETag>{_text(item['ETag'])}</ETag><Size>{item['Size']}</Size>"
            f"<StorageClass>{item['StorageClass']}</StorageClass></Contents>"
        )
    parts.append("</ListBucketResult>")
    return "".join(parts)


def install_renderer() -> None:
    """Answer plain ListObjectsV2 pages with ``render_page`` (idempotent); pages with a
    delimiter, an owner or checksums keep moto's serializer."""
    from moto.s3.responses import S3Response

    original = S3Response.list_objects_v2
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def list_objects_v2(self: Any) -> Any:
        generic = self.serialized

        def serialized(action_result: Any) -> Any:
            result = action_result.result
            plain = "CommonPrefixes" not in result and all(
                "Owner" not in item and "ChecksumAlgorithm" not in item
                for item in result["Contents"]
            )
            if not plain:
                return generic(action_result)
            headers = {"Content-Type": "application/xml", **self.response_headers}
            return 200, headers, render_page(result)

        self.serialized = serialized
        try:
            return original(self)
        finally:
            del self.serialized

    setattr(list_objects_v2, _PATCHED, True)
    response: Any = S3Response
    response.list_objects_v2 = list_objects_v2
