"""What a copy does with a destination key that already exists: pure decisions.

``never`` writes with ``If-None-Match: *`` (on CopyObject, and on CompleteMultipartUpload for a
multipart copy), so S3 itself refuses to replace anything, even an object written a moment
before. A refused write is then told apart: the destination holds the very object this job
copies (an earlier delivery's copy, whose answer was lost) and counts as copied, or it holds
something else and the object fails with ``DestinationExists``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from s3migrator.errors import PermanentError
from s3migrator.models import Overwrite

DESTINATION_EXISTS = "DestinationExists"


def write_condition(overwrite: Overwrite) -> dict[str, Any]:
    """The conditional-write argument for the request that makes the object visible."""
    return {"IfNoneMatch": "*"} if overwrite is Overwrite.NEVER else {}


def multipart_etag(part_etags: Sequence[str]) -> str:
    """The ETag S3 gives an object completed from these parts (unencrypted or SSE-S3): the MD5
    of the parts' binary MD5s, then ``-`` and the number of parts."""
    digests = b"".join(bytes.fromhex(etag.strip('"')) for etag in part_etags)
    md5 = hashlib.md5(digests, usedforsecurity=False).hexdigest()
    return f'"{md5}-{len(part_etags)}"'


def holds(head: Mapping[str, Any], size: int, etag: str) -> bool:
    """Whether a HeadObject answer shows an object of this size and ETag."""
    return head.get("ContentLength") == size and head.get("ETag") == etag


def exists_error(key: str) -> PermanentError:
    return PermanentError(
        DESTINATION_EXISTS,
        f"the destination already holds a different object at {key!r}; the job's overwrite"
        ' rule is "never" (send the job with "overwrite": "if-different" or "always" to'
        " replace it)",
        412,
    )
