"""Object Lock on copies: each copy keeps its source's retention and legal hold (the job's
``object_lock``, "keep" by default; "ignore" reads nothing and carries none).

S3 writes a copy, one CopyObject or a multipart copy alike, with only the lock its request names
(``ObjectLockMode`` with ``ObjectLockRetainUntilDate``, ``ObjectLockLegalHoldStatus``) or else
the destination bucket's default retention: the source's own settings are never copied. So
under "keep":

* Whether the source bucket has Object Lock is read once per job by each copier process
  (GetObjectLockConfiguration, the answer cached; copies on other threads wait for the one
  read). A bucket without it (S3's 404 ObjectLockConfigurationNotFoundError) holds no locked
  object: past that one read, its small objects still cost one CopyObject each.
* In a bucket with it, a single-part copy first heads the source (the listed version, under
  the listed ETag, like every read); a multipart copy reads the lock from the HEAD it makes
  anyway, whatever the bucket. HeadObject reports the mode and date only to a reader allowed
  s3:GetObjectRetention, the legal hold only with s3:GetObjectLegalHold: the copying role needs
  both (without them S3 says nothing, and the copy would go unlocked).
* Retention is carried when the source has a mode and a retain-until date still to come (an
  expired one protects nothing, and S3 refuses to set a date in the past); a legal hold when ON.
* Before a locked copy is written, the destination bucket's configuration is read (once per
  job too): a destination without Object Lock fails the object (``ObjectLockNotEnabled``, which
  says what the lock was and what to change) before anything is written, rather than copying
  it unlocked. S3 itself would refuse the write (400 InvalidRequest, "Bucket is missing
  ObjectLockConfiguration"); asking first gives the reason without reading S3's error codes.
* A configuration the copier may not read fails the object (``AccessDenied``, naming the
  permission, or "object_lock": "ignore" to do without): taking an unreadable configuration
  for "no Object Lock" could copy locked objects without their lock. Failures are not cached,
  so a policy fixed during the job serves its next object; throttling and the like are retried
  as any other request's.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from copier.properties import version_of
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import AccessDeniedError, NotFoundError, PermanentError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec, Location
    from s3migrator.work import WorkItem

Side = Literal["source", "destination"]
NOT_ENABLED = "ObjectLockNotEnabled"
_IGNORE = '"options": {"object_lock": "ignore"}'


def lock_arguments(head: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The lock a HeadObject answer reports, as arguments of CopyObject or
    CreateMultipartUpload: retention only whole and still running, a legal hold only ON."""
    lock: dict[str, Any] = {}
    mode, until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
    if mode and until and until > (now or datetime.now(UTC)):
        lock.update(ObjectLockMode=mode, ObjectLockRetainUntilDate=until)
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        lock["ObjectLockLegalHoldStatus"] = "ON"
    return lock


def described(lock: Mapping[str, Any]) -> str:
    """``GOVERNANCE until 2030-01-01T00:00:00Z, legal hold ON``."""
    parts = []
    if "ObjectLockMode" in lock:
        until = lock["ObjectLockRetainUntilDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f"{lock['ObjectLockMode']} until {until}")
    if "ObjectLockLegalHoldStatus" in lock:
        parts.append("legal hold ON")
    return ", ".join(parts)


@dataclass
class ObjectLocks:
    """What each copy is given of its source's lock; knows, per job, which buckets have one."""

    _enabled: dict[tuple[str, str], bool] = field(default_factory=dict)
    _reads: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def for_copy(self, s3: S3Client, spec: CopySpec, item: WorkItem) -> dict[str, Any]:
        """CopyObject's lock arguments: a HEAD of the source, only in a bucket with Object
        Lock."""
        if spec.options.object_lock == "ignore" or not self.enabled(s3, spec, "source"):
            return {}
        head = s3.head_object(
            Bucket=spec.source.bucket,
            Key=item.key,
            IfMatch=item.etag,
            **version_of(item),
            **spec.source.expected_owner(),
            **spec.options.source_payer(),
        )
        return self.from_head(s3, spec, dict(head))

    def from_head(self, s3: S3Client, spec: CopySpec, head: Mapping[str, Any]) -> dict[str, Any]:
        """The lock of the source ``head`` describes, for its copy; raises when the destination
        could not keep it."""
        if spec.options.object_lock == "ignore":
            return {}
        lock = lock_arguments(head)
        if lock and not self.enabled(s3, spec, "destination"):
            raise PermanentError(
                NOT_ENABLED,
                f"the source object is under Object Lock ({described(lock)}) and the destination"
                f" bucket {spec.destination.bucket} has no Object Lock enabled; enable Object Lock"
                f" on it, or send the job with {_IGNORE} to copy without Object Lock settings",
            )
        return lock

    def enabled(self, s3: S3Client, spec: CopySpec, side: Side) -> bool:
        """Whether the bucket of the job's ``side`` has Object Lock, read once per job (a read
        that fails is not remembered)."""
        key = (spec.job_id, getattr(spec, side).bucket)
        with self._guard:
            if key in self._enabled:
                return self._enabled[key]
            read = self._reads.setdefault(key, threading.Lock())
        with read:
            with self._guard:
                if key in self._enabled:
                    return self._enabled[key]
            enabled = _configured(s3, spec, side)
            with self._guard:
                self._enabled[key] = enabled
                self._reads.pop(key, None)
        return enabled


def _configured(s3: S3Client, spec: CopySpec, side: Side) -> bool:
    location: Location = getattr(spec, side)
    try:
        answer = s3.get_object_lock_configuration(
            Bucket=location.bucket, **location.expected_owner()
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AccessDeniedError):
            who = spec.destination.role_arn or "the copier's task role"
            raise AccessDeniedError(
                error.code,
                f"could not read the {side} bucket's Object Lock configuration ({error.message});"
                f" allow s3:GetBucketObjectLockConfiguration on arn:aws:s3:::{location.bucket}"
                f" to {who}, or send the job with {_IGNORE} to copy without Object Lock settings",
                error.http_status,
            ) from exc
        # S3 answers 404 ObjectLockConfigurationNotFoundError for a bucket without Object Lock
        # (NoSuchBucket, a 404 too, is a NotFoundError).
        if error.http_status == 404 and not isinstance(error, NotFoundError):
            return False
        raise
    return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
