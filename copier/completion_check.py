"""A copy made in parts checked against its source's checksum of the whole object.

A single-part copy is checked by its ETag (S3's MD5 of the bytes). A copy made in parts has
another ETag than its source (other parts), so its checksum of the whole object is what can tell:
a source with a CRC of its whole object (``ChecksumType`` ``FULL_OBJECT``: CRC64NVME, CRC32C,
CRC32) has the copy's upload created with that algorithm and completed with the source's value,
which S3 refuses to assemble a different object under (``BadDigest``). An endpoint that does not
check is asked the copy's checksum and it is compared here. Composite checksums (SHA-1, SHA-256,
or a CRC of parts, their value ending ``-N``) hold only for the source's own parts; those copies
are left to ``s3migrator verify``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.checksums import WholeChecksum
from s3migrator.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec

log = logging.getLogger(__name__)


def checked_against(spec: CopySpec, source: WholeChecksum | None) -> WholeChecksum | None:
    """The source checksum a copy made in parts is checked against: the source's, unless the
    job stores the copy under another algorithm (it can then only be checked by its bytes)."""
    chosen = spec.options.checksum_algorithm
    if source is None or (chosen and chosen != source.algorithm):
        return None
    return source


def completion_checksum(checked: WholeChecksum | None) -> dict[str, Any]:
    """What CompleteMultipartUpload is given so that S3 refuses to assemble a copy whose
    checksum is not its source's (``BadDigest``)."""
    if checked is None:
        return {}
    return {"ChecksumType": "FULL_OBJECT", checked.field: checked.value}


def check(
    s3: S3Client, spec: CopySpec, key: str, answer: Mapping[str, Any], checked: WholeChecksum
) -> bool:
    """Whether the completed copy's checksum is the source's; raise when it is not.

    Read from CompleteMultipartUpload's answer, else asked of the destination (one HEAD per
    object made in parts, on an endpoint that does not answer it). What the HEAD finds is this
    copy only while its ETag is the completion's; another object there by then (one written
    meanwhile, or another delivery's copy), or one without that algorithm's checksum, cannot
    tell: the copy is left unverified, and nothing is removed.
    """
    made = answer.get(checked.field)
    if not made:
        head = s3.head_object(
            Bucket=spec.destination.bucket,
            Key=key,
            ChecksumMode="ENABLED",
            **_version(answer),
            **spec.destination.expected_owner(),
        )
        made = head.get(checked.field)
        if not made or head.get("ETag") != answer.get("ETag"):
            return False
    if made != checked.value:
        removed = _remove(s3, spec, key, answer)
        raise PermanentError(
            "ChecksumMismatch",
            f"the copy's {checked.algorithm} was {made}, its source's {checked.value}; {removed}",
        )
    return True


def _remove(s3: S3Client, spec: CopySpec, key: str, answer: Mapping[str, Any]) -> str:
    """Remove a copy that is not its source (S3 itself never assembles one): left there, a sync
    would take it for the source's copy. Only that copy: its version, or the key while it
    still holds it (``IfMatch``). Says what became of it."""
    which = _version(answer) or {"IfMatch": answer["ETag"]}
    try:
        s3.delete_object(
            Bucket=spec.destination.bucket, Key=key, **which, **spec.destination.expected_owner()
        )
    except PROVIDER_ERRORS as exc:
        log.warning("could not remove the mismatched copy of %s", key, exc_info=True)
        return f"the copy could not be removed ({translate(exc)}): delete it"
    return "the copy was removed"


def _version(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The copy's own version, in a versioned bucket (an unversioned one answers none or
    ``null``)."""
    version = answer.get("VersionId")
    return {"VersionId": version} if version and version != "null" else {}
