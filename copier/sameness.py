"""Whether the destination holds the very bytes of a source object, when ETags cannot tell.

An ETag is the MD5 of an object's bytes only for a single-part, unencrypted or SSE-S3 object: a
source uploaded in parts (``"...-N"``), or either side under SSE-KMS, copies to an object whose
ETag differs from the source's although the bytes are the same. Before an object is reported as
a conflict (``DestinationExists``) or a failure, an earlier attempt's copy is recognised by
reading both sides, chunk by chunk, each pinned to the ETag just seen. This costs a read of the
object, and happens only on those rare paths (a batch delivered again after its count was lost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec

CHUNK_BYTES = 8 * 1024**2


def same_content(
    s3: S3Client, spec: CopySpec, source_key: str, source_etag: str, destination_etag: str
) -> bool:
    """True when both objects hold the same bytes (``s3`` reads both sides: the destination
    side's client, which reads the source to copy it)."""
    source: Any = s3.get_object(
        Bucket=spec.source.bucket,
        Key=source_key,
        IfMatch=source_etag,
        **spec.source.expected_owner(),
        **spec.options.source_payer(),
    )["Body"]
    destination: Any = s3.get_object(
        Bucket=spec.destination.bucket,
        Key=spec.destination_key(source_key),
        IfMatch=destination_etag,
        **spec.destination.expected_owner(),
    )["Body"]
    try:
        while True:
            ours, theirs = source.read(CHUNK_BYTES), destination.read(CHUNK_BYTES)
            if ours != theirs:
                return False
            if not ours:
                return True
    finally:
        source.close()
        destination.close()
