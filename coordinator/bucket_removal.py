"""Emptying and deleting a bucket a migration is done with: the source once its copy is
verified, the temporary bucket once the final copy is.

The source loses only what was verified: each object is deleted under the ETag the verifier
compared (``IfMatch``), so one written or changed since is refused and kept, and the bucket is
deleted only when nothing else is left in it (S3 refuses to delete a bucket that holds
anything). Noncurrent versions and delete markers go only when the job said they may
(``noncurrent_versions: drop``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import (
    AccessDeniedError,
    ConditionFailedError,
    InvalidJobError,
    NotFoundError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import Location

log = logging.getLogger(__name__)
_PER_DELETE = 1000  # DeleteObjects takes at most this many keys
_PROBE_KEY = "s3migrator-probe/may-this-side-delete"


def delete_verified(
    s3: S3Client,
    location: Location,
    agreed: list[tuple[str, str]],
    keep_going: Callable[[], None] = lambda: None,
) -> int:
    """Delete each verified object under the ETag it was verified with; returns how many.
    InvalidJobError when one changed since (the job stops, and it is kept). ``keep_going`` is
    called before each: it raises when the run must stop (its lease lost)."""
    deleted = 0
    for key, etag in agreed:
        keep_going()
        try:
            s3.delete_object(
                Bucket=location.bucket, Key=key, IfMatch=etag, **location.expected_owner()
            )
            deleted += 1
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, NotFoundError):
                continue  # an earlier run deleted it
            if isinstance(error, ConditionFailedError):
                raise InvalidJobError(
                    f"s3://{location.bucket}/{key} changed after it was verified: it is kept, and"
                    " the source bucket with it"
                ) from exc
            raise error from exc
    return deleted


def deletion_denied(s3: S3Client, location: Location) -> str | None:
    """Why this side may not delete the bucket's objects, or None when it may: a conditional
    DeleteObject of a key that does not exist is refused (403) before S3 looks for the key,
    and otherwise deletes nothing (not even a delete marker)."""
    try:
        s3.delete_object(
            Bucket=location.bucket,
            Key=_PROBE_KEY,
            IfMatch='"s3migrator-probe"',
            **location.expected_owner(),
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AccessDeniedError):
            return str(error)
        if not isinstance(error, (NotFoundError, ConditionFailedError)):
            raise error from exc
    return None


def remaining_objects(s3: S3Client, location: Location) -> list[str]:
    """Up to ten keys still in the bucket (current versions)."""
    return _current_keys(s3, location, 10)


def object_lock_enabled(s3: S3Client, location: Location) -> bool:
    """Whether the bucket has Object Lock: its locked versions cannot be deleted before their
    retention ends, so neither can the bucket."""
    try:
        answer = s3.get_object_lock_configuration(
            Bucket=location.bucket, **location.expected_owner()
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        # A bucket without Object Lock answers 404 (not NoSuchBucket, also a 404).
        if error.http_status == 404 and not isinstance(error, NotFoundError):
            return False
        raise error from exc
    return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def versioning_of(s3: S3Client, location: Location) -> str | None:
    """``Enabled`` or ``Suspended`` for a bucket that keeps (or kept) versions, else None."""
    with translated():
        answer = s3.get_bucket_versioning(Bucket=location.bucket, **location.expected_owner())
    return answer.get("Status")


def region_of(s3: S3Client, location: Location) -> str:
    with translated():
        answer = s3.get_bucket_location(Bucket=location.bucket, **location.expected_owner())
    # S3 answers nothing for us-east-1, and "EU" for the oldest buckets of eu-west-1.
    found = answer.get("LocationConstraint") or "us-east-1"
    return "eu-west-1" if found == "EU" else found


def purge_versions(
    s3: S3Client,
    location: Location,
    *,
    everything: bool = False,
    keep_going: Callable[[], None] = lambda: None,
) -> int:
    """Delete the noncurrent versions and delete markers left (a versioned bucket keeps the
    deleted objects as noncurrent versions); a current version (an object written meanwhile)
    is kept, unless ``everything`` (a bucket the job made and is done with). Returns how
    many; ``keep_going`` is called for each page."""
    purged = 0
    with translated():
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=location.bucket, **location.expected_owner()
        )
        for page in pages:
            keep_going()
            versions = page.get("Versions", [])
            kept = [v for v in versions if not everything and v.get("IsLatest")]
            listed: list[Any] = [
                *(v for v in versions if v not in kept),
                *page.get("DeleteMarkers", []),
            ]
            entries: list[Any] = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in listed
            ]
            for first in range(0, len(entries), _PER_DELETE):
                chunk = entries[first : first + _PER_DELETE]
                answer = s3.delete_objects(
                    Bucket=location.bucket,
                    Delete={"Objects": chunk, "Quiet": True},
                    **location.expected_owner(),
                )
                if answer.get("Errors"):
                    first_error = answer["Errors"][0]
                    raise InvalidJobError(
                        f"could not delete {len(answer['Errors'])} versions in"
                        f" {location.bucket}, first {first_error.get('Key')}:"
                        f" {first_error.get('Message')}"
                    )
                purged += len(chunk)
    return purged


def empty(s3: S3Client, location: Location, keep_going: Callable[[], None] = lambda: None) -> int:
    """Delete everything in a bucket the job made and is done with (the temporary one);
    ``keep_going`` is called for each thousand keys."""
    removed = 0
    while keys := _current_keys(s3, location):
        keep_going()
        with translated():
            answer = s3.delete_objects(
                Bucket=location.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
                **location.expected_owner(),
            )
        if answer.get("Errors"):
            # Refused (a policy, say): listing and trying again would never end.
            first = answer["Errors"][0]
            raise InvalidJobError(
                f"could not delete {len(answer['Errors'])} objects in {location.bucket}, first"
                f" {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        removed += len(keys)
    return removed + purge_versions(s3, location, everything=True, keep_going=keep_going)


def _current_keys(s3: S3Client, location: Location, limit: int = _PER_DELETE) -> list[str]:
    """The first ``limit`` keys in the bucket (current versions)."""
    with translated():
        listed = s3.list_objects_v2(
            Bucket=location.bucket, MaxKeys=limit, **location.expected_owner()
        )
    return [entry["Key"] for entry in listed.get("Contents", [])]


def delete_bucket(s3: S3Client, location: Location) -> None:
    """Delete the (empty) bucket; one already gone is fine (an earlier run deleted it)."""
    try:
        s3.delete_bucket(Bucket=location.bucket, **location.expected_owner())
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if not isinstance(error, NotFoundError):
            raise error from exc
        log.info("bucket %s was deleted already", location.bucket)
