"""Server-side copy of one object: CopyObject below the threshold, multipart copy above it.

Every request names the source ETag seen at listing time (``CopySourceIfMatch``), so a copy is
never assembled from two versions of an object, and the account expected to own each bucket
(``ExpectedBucketOwner``, ``ExpectedSourceBucketOwner``), so a bucket of that name in another
account neither supplies nor receives data. An existing destination object is replaced only as
the job's overwrite rule says (``copier.overwrite``). What each request carries besides the bytes
(storage class, checksum, ACL grants, ``RequestPayer``) comes from ``copier.properties``, its
Object Lock retention and legal hold from ``copier.object_lock``. A small object costs exactly one
request (``if-different`` adds one HEAD, ``copy_acl`` one GetObjectAcl, a source in a bucket with
Object Lock one HEAD, and each job one GetObjectLockConfiguration per copier).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copier.completion_check import check, checked_against, completion_checksum
from copier.direct_copies import DirectCopies, sender
from copier.object_lock import ObjectLocks
from copier.overwrite import exists_error, holds, multipart_etag, write_condition
from copier.parts import plan_parts, use_multipart
from copier.properties import (
    carried_properties,
    checksum,
    completed_part,
    copy_source,
    encryption,
    grants,
    part_algorithm,
    part_request,
    source_owner,
    storage_class,
    upload_checksum,
    version_of,
)
from copier.sameness import same_content
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.checksums import WholeChecksum, whole_checksum
from s3migrator.errors import (
    ConditionFailedError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from s3migrator.models import MAX_KEY_BYTES, CopySpec, Overwrite
from s3migrator.work import WorkItem, kept_class

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from s3migrator.sessions import S3Clients

log = logging.getLogger(__name__)


@dataclass
class _Upload:
    s3: S3Client
    bucket: str
    key: str
    upload_id: str
    owner: dict[str, Any] = field(default_factory=dict)
    parts: list[Future[Any]] = field(default_factory=list)

    def end(self, timeout_s: float | None = None) -> None:
        """Cancel the parts not started, let the running ones end, then abort the upload."""
        for part in self.parts:
            part.cancel()
        wait(self.parts, timeout=timeout_s)
        try:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, **self.owner
            )
        except Exception:
            log.warning("could not abort upload %s of %s", self.upload_id, self.key, exc_info=True)


@dataclass
class ObjectCopier:
    clients: S3Clients
    parts_pool: Executor
    multipart_threshold_bytes: int
    part_size_bytes: int
    # Small objects' CopyObject sent directly (None: every request is botocore's).
    direct: DirectCopies | None = None
    # Multipart uploads under way, so that a copier that stops can abort them all.
    _uploads: dict[str, _Upload] = field(default_factory=dict)
    # Which buckets have Object Lock, per job.
    _locks: ObjectLocks = field(default_factory=ObjectLocks)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def abandon(self, timeout_s: float) -> int:
        """On a stop past its grace: start no upload, cancel parts not started, let running
        parts end (for up to ``timeout_s``), and abort every upload; returns how many."""
        self._stopping.set()
        with self._lock:
            uploads = list(self._uploads.values())
            self._uploads.clear()
        for upload in uploads:
            upload.end(timeout_s)
        return len(uploads)

    def copy(self, spec: CopySpec, item: WorkItem, *, again: bool = False) -> int:
        """Copy one object and return the bytes copied; raises provider errors to translate.

        When the source changed since it was listed (its ETag no longer matches), the current
        version is read once more and copied under its own ETag, so the copy is whole and of
        one version; a second change in between fails the object. Under ``if-different`` a
        destination that already holds the listed object is left as it is. ``again``: the
        object may have been copied by an earlier delivery, so when ETags cannot tell, a
        refused write is told apart by the bytes (``copier.sameness``); on a first delivery
        an object of another ETag is someone else's, and no byte is read.
        """
        try:
            return self._copy_current(spec, item, again)
        except AlreadyCopied as copied:
            return copied.size

    def _copy_current(self, spec: CopySpec, item: WorkItem, again: bool) -> int:
        if spec.overwrite is Overwrite.IF_DIFFERENT and self.landed(spec, item):
            return Copied(item.size, verified=True)  # the same size and ETag are there
        try:
            return Copied(item.size, verified=self._copy(spec, item, again))
        except PROVIDER_ERRORS as exc:
            if not isinstance(translate(exc), ConditionFailedError):
                raise
            if spec.overwrite is Overwrite.NEVER:
                self._refused(spec, item, again)  # the key exists: copied, or an error
        s3 = self.clients.for_location(spec.destination, spec)
        head = s3.head_object(
            Bucket=spec.source.bucket,
            Key=item.key,
            **spec.source.expected_owner(),
            **spec.options.source_payer(),
        )
        current = WorkItem(
            key=item.key,
            size=head["ContentLength"],
            etag=head["ETag"],
            storage_class=kept_class(head.get("StorageClass")),
        )
        log.info("%s changed after listing; copying its current version", item.key)
        return Copied(current.size, verified=self._copy(spec, current, again))

    def _refused(self, spec: CopySpec, item: WorkItem, again: bool) -> None:
        """After a 412 under ``never``: return when it was the source's condition that failed
        (no destination object), raise when the destination holds another object; an object
        this job copied before (as listed, or as the source is now, when an earlier attempt
        copied the version that replaced it) is done (``AlreadyCopied``)."""
        head = self._destination_head(spec, item)
        if head is None:
            return
        if holds(head, item.size, item.etag):
            raise AlreadyCopied(item.size)
        s3 = self.clients.for_location(spec.destination, spec)
        now = s3.head_object(
            Bucket=spec.source.bucket,
            Key=item.key,
            **spec.source.expected_owner(),
            **spec.options.source_payer(),
        )
        if holds(head, now["ContentLength"], now["ETag"]) or (
            again
            and head.get("ContentLength") == now["ContentLength"]
            and same_content(s3, spec, item.key, now["ETag"], head["ETag"])
        ):
            raise AlreadyCopied(now["ContentLength"])
        raise exists_error(spec.destination_key(item.key))

    def _destination_head(self, spec: CopySpec, item: WorkItem) -> dict[str, Any] | None:
        s3 = self.clients.for_location(spec.destination, spec)
        try:
            return dict(
                s3.head_object(
                    Bucket=spec.destination.bucket,
                    Key=spec.destination_key(item.key),
                    **spec.destination.expected_owner(),
                )
            )
        except PROVIDER_ERRORS as exc:
            if isinstance(translate(exc), NotFoundError):
                return None
            raise

    def landed(self, spec: CopySpec, item: WorkItem, *, by_content: bool = False) -> bool:
        """Whether the destination already holds ``item`` (an earlier attempt's copy, its answer
        lost to a crash or a timeout): an object of its size and ETag, or, ``by_content``, of
        its bytes when the ETags cannot tell (see ``copier.sameness``). False when it cannot
        tell."""
        try:
            head = self._destination_head(spec, item)
            if head is None or head.get("ContentLength") != item.size:
                return False
            if holds(head, item.size, item.etag):
                return True
            return by_content and same_content(
                self.clients.for_location(spec.destination, spec),
                spec,
                item.key,
                item.etag,
                head["ETag"],
            )
        except PROVIDER_ERRORS:
            return False

    def _copy(self, spec: CopySpec, item: WorkItem, again: bool = False) -> bool:
        """Copy, and say whether the copy is verified: its ETag, as S3 answers it, is the
        source's (a single-part copy of an object not made in parts, without SSE-KMS), or, made
        in parts, its checksum of the whole object is the source's (``_multipart``)."""
        size = len(spec.destination_key(item.key).encode())
        if size > MAX_KEY_BYTES:
            raise PermanentError(
                "KeyTooLongError",
                f"the destination key would be {size} bytes; S3 keys hold at most {MAX_KEY_BYTES}",
            )
        threshold = spec.options.multipart_threshold_bytes or self.multipart_threshold_bytes
        # The destination side copies: it owns every new object and reads the source through
        # the source bucket's policy (see `s3migrator grant`).
        s3 = self.clients.for_location(spec.destination, spec)
        if use_multipart(item.size, threshold) and item.size > 0:
            return self._multipart(s3, spec, item, again)
        lock = self._locks.for_copy(s3, spec, item)
        answer = sender(self.direct, s3, item.size)(
            Bucket=spec.destination.bucket,
            Key=spec.destination_key(item.key),
            CopySource=copy_source(spec, item),
            CopySourceIfMatch=item.etag,
            **storage_class(spec, item),
            **checksum(spec),
            **grants(s3, spec, item.key),
            **write_condition(spec.overwrite),
            **spec.destination.expected_owner(),
            **source_owner(spec),
            **spec.options.source_payer(),
            **encryption(spec.destination),
            **lock,
        )
        return bool(answer.get("CopyObjectResult", {}).get("ETag") == item.etag)

    def _multipart(self, s3: S3Client, spec: CopySpec, item: WorkItem, again: bool) -> bool:
        """Copy in parts; True when the copy's checksum of its whole object was checked equal
        to its source's (a source with a CRC of its whole object keeps it, and S3 refuses to
        complete a copy that does not match it)."""
        upload_id, checked = self.begin_upload(s3, spec, item)
        bucket, key = spec.destination.bucket, spec.destination_key(item.key)
        owner = spec.destination.expected_owner()
        upload = _Upload(s3, bucket, key, upload_id, owner)
        with self._lock:
            self._uploads[upload_id] = upload
        part_size = spec.options.part_size_bytes or self.part_size_bytes
        try:
            upload.parts = [
                self.parts_pool.submit(
                    s3.upload_part_copy, **part_request(spec, item, upload_id, part)
                )
                for part in plan_parts(item.size, part_size)
            ]
            algorithm = part_algorithm(spec, checked)
            parts = [
                completed_part(algorithm, number, future.result()["CopyPartResult"])
                for number, future in enumerate(upload.parts, start=1)
            ]
            verified = self.complete(s3, spec, item, upload_id, parts, again, checked)
        except BaseException:
            with self._lock:
                mine = self._uploads.pop(upload_id, None) is not None
            if mine:  # else abandon() ends it
                upload.end()
            raise
        with self._lock:
            self._uploads.pop(upload_id, None)
        return verified

    def begin_upload(
        self, s3: S3Client, spec: CopySpec, item: WorkItem
    ) -> tuple[str, WholeChecksum | None]:
        """Start the multipart upload of ``item`` (as listed: ``IfMatch``) with the properties
        it carries; its id, and the source checksum its completion is checked against."""
        head = s3.head_object(
            Bucket=spec.source.bucket,
            Key=item.key,
            IfMatch=item.etag,
            ChecksumMode="ENABLED",
            **version_of(item),
            **spec.source.expected_owner(),
            **spec.options.source_payer(),
        )
        checked = checked_against(spec, whole_checksum(head))
        carried = carried_properties(s3, spec, item, dict(head))
        carried.update(self._locks.from_head(s3, spec, head))
        carried.update(grants(s3, spec, item.key))
        key = spec.destination_key(item.key)
        if spec.overwrite is Overwrite.NEVER:
            # One HEAD saves copying every part of an object the write is bound to be refused
            # for; one of the same size may be this job's earlier copy, which only the parts'
            # ETags can tell (see complete).
            there = self._destination_head(spec, item)
            if there is not None and there.get("ContentLength") != item.size:
                raise exists_error(key)
        if self._stopping.is_set():
            raise TransientError("CopierStopping", "the copier is stopping; another copies it")
        upload_id = s3.create_multipart_upload(
            Bucket=spec.destination.bucket,
            Key=key,
            **carried,
            **upload_checksum(spec, checked),
            **spec.destination.expected_owner(),
            **encryption(spec.destination),
        )["UploadId"]
        return upload_id, checked

    def complete(
        self,
        s3: S3Client,
        spec: CopySpec,
        item: WorkItem,
        upload_id: str,
        parts: list[CompletedPartTypeDef],
        again: bool,
        checked: WholeChecksum | None,
    ) -> bool:
        """Complete the upload under the job's overwrite rule, and say whether the copy's
        checksum is the source's (``checked``; S3 refuses a copy that differs, and an endpoint
        that does not check is asked the copy's). Refused under ``never``: the destination
        holds this very copy (its ETag is the one these parts make) or it fails the object;
        either way the upload is aborted by the caller."""
        key = spec.destination_key(item.key)
        try:
            answer = s3.complete_multipart_upload(
                Bucket=spec.destination.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **completion_checksum(checked),
                **write_condition(spec.overwrite),
                **spec.destination.expected_owner(),
            )
        except PROVIDER_ERRORS as exc:
            if spec.overwrite is not Overwrite.NEVER or not isinstance(
                translate(exc), ConditionFailedError
            ):
                raise
            head = self._destination_head(spec, item)
            expected = multipart_etag([part["ETag"] for part in parts])
            if head is not None and (
                holds(head, item.size, expected)
                or (
                    again
                    and head.get("ContentLength") == item.size
                    and same_content(s3, spec, item.key, item.etag, head["ETag"])
                )
            ):
                raise AlreadyCopied(item.size) from exc
            raise exists_error(key) from exc
        if checked is None:
            return False
        return check(s3, spec, key, answer, checked)


class Copied(int):
    """The bytes a copy copied, and whether S3's answer verified it (see ``_copy``): an int to
    whoever only counts bytes."""

    verified: bool

    def __new__(cls, size: int, *, verified: bool) -> Copied:
        copied = super().__new__(cls, size)
        copied.verified = verified
        return copied


class AlreadyCopied(Exception):  # noqa: N818 - an outcome, not an error
    """The destination already holds this object (``size`` bytes), copied by an earlier
    delivery."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size
