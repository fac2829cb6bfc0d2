"""What botocore sends for a shape of copies, learnt by watching it send two of them.

A shape is every CopyObject parameter but the object's own (``VARYING``: its key, its source
and the source's ETag) on one client. Two copies of one shape differ, on the wire, only where
those parameters go: the key's escaped path at the end of the URL and the two copy-source
headers. ``copier.direct_copies`` watches botocore send a shape's first two copies; when both
give the same template (``template_of``), it builds the shape's later copies from it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.handlers import handle_copy_source_param
from botocore.utils import percent_encode

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from botocore.model import OperationModel
    from mypy_boto3_s3 import S3Client

VARYING = frozenset({"Key", "CopySource", "CopySourceIfMatch"})
SOURCE_HEADERS = frozenset({"x-amz-copy-source", "x-amz-copy-source-if-match"})
# Headers of the connection, not of the request: the direct path frames its own.
FRAMING = frozenset({"content-length", "transfer-encoding", "expect", "connection", "host"})


@dataclass(frozen=True)
class Route:
    """One botocore client's region, credentials, CA bundle and timeouts (botocore's
    defaults: 60 s to connect, 60 s for each read; None: none, the direct path's deadline
    alone)."""

    region: str
    credentials: Credentials
    ca_bundle: str
    connect_timeout_s: float | None = 60.0
    read_timeout_s: float | None = 60.0


@dataclass(frozen=True)
class Template:
    """What botocore sends for every copy of one shape, the object's own parts left out: the
    URL before the key's path, and every header but the copy source's two."""

    prefix: str
    headers: tuple[tuple[str, str], ...]
    route: Route
    model: OperationModel = field(compare=False)

    def same_as(self, other: Template) -> bool:
        """Equal but for the User-Agent (botocore's may name features a call used)."""
        return (
            self.prefix == other.prefix
            and self.route == other.route
            and _sans_agent(self.headers) == _sans_agent(other.headers)
            and self.model is other.model
        )


def _sans_agent(headers: tuple[tuple[str, str], ...]) -> set[tuple[str, str]]:
    return {(name.lower(), value) for name, value in headers if name.lower() != "user-agent"}


def source_header(source: Any) -> str:
    """The x-amz-copy-source header botocore sends for ``CopySource`` (a string or a dict)."""
    params = {"CopySource": source}
    handle_copy_source_param(params)
    return str(params["CopySource"])


def shape_of(client: S3Client, params: dict[str, Any]) -> Hashable | None:
    """The copies that share a template: one client, every parameter but the object's own
    (``VARYING``) the same, of the same type (True and 1 are equal, and botocore sends them
    differently). None when a parameter cannot be compared so (a dict, a list)."""
    try:
        fixed = frozenset(
            (name, type(value), value) for name, value in params.items() if name not in VARYING
        )
        hash(fixed)
    except TypeError:
        return None
    # The client itself, not its id: a client made after another is gone may get its id.
    return (client, fixed)


def template_of(
    route: Route,
    request: dict[str, Any],
    context: dict[str, Any],
    params: dict[str, Any],
    model: OperationModel,
) -> Template | None:
    """The template of what botocore sent for ``params``; None when such a copy cannot be
    sent as it was (signed otherwise, a body, a query string, a key or source it did not
    send as this module would)."""
    signing = context.get("signing") or {}
    url = request.get("url", "")
    key = percent_encode(params["Key"], safe="/~")
    if (
        context.get("auth_type") != "v4"
        or signing.get("signing_name", "s3") != "s3"
        or signing.get("region", route.region) != route.region
        or request.get("body")
        or request.get("query_string")
        or request.get("method") != "PUT"
        or urlsplit(url).query
        or not url.endswith("/" + key)
    ):
        return None
    headers = {name.lower(): str(value) for name, value in request.get("headers", {}).items()}
    if headers.get("x-amz-copy-source") != source_header(params["CopySource"]) or headers.get(
        "x-amz-copy-source-if-match"
    ) != params.get("CopySourceIfMatch"):
        return None
    kept = tuple(
        (name, str(value))
        for name, value in request["headers"].items()
        if name.lower() not in SOURCE_HEADERS and name.lower() not in FRAMING
    )
    return Template(url[: -len(key)], kept, route, model)


UNKNOWN: Any = object()
# Shapes kept, learnt or being learnt, before they are all forgotten.
MAX_SHAPES = 4096


@dataclass
class Templates:
    """Each shape's template once learnt (None: botocore sends the shape for good)."""

    _learnt: dict[Hashable, Template | None] = field(default_factory=dict)
    _candidates: dict[Hashable, Template] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, shape: Hashable) -> Template | None:
        """The shape's template, None when it is botocore's, ``UNKNOWN`` while it is learnt."""
        with self._lock:
            return self._learnt.get(shape, UNKNOWN)

    def learn(self, shape: Hashable, candidate: Template | None) -> None:
        """What botocore sent for one copy of ``shape`` (None: one it cannot be built from)."""
        with self._lock:
            if shape in self._learnt:
                return
            full = len(self._candidates) >= MAX_SHAPES or len(self._learnt) >= MAX_SHAPES
            if full and shape not in self._candidates:
                # Shapes that hold a value of each object's own (a retention date, ACL
                # grants) never repeat: forgotten, they cost botocore's sends, not memory.
                self._candidates.clear()
                self._learnt.clear()
            earlier = self._candidates.pop(shape, None)
            if candidate is None or (earlier is not None and not earlier.same_as(candidate)):
                self._learnt[shape] = None
            elif earlier is not None:
                self._learnt[shape] = candidate
            else:
                self._candidates[shape] = candidate

    def leave_to_botocore(self, shape: Hashable) -> None:
        with self._lock:
            self._learnt[shape] = None
