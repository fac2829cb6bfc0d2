"""Server-side copy of one object: CopyObject below the threshold, multipart copy above it.

Every request names the source ETag seen at listing time (``CopySourceIfMatch``), so a copy is
never assembled from two versions of an object. A small object costs exactly one request.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copier.parts import plan_parts, use_multipart
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import ConditionFailedError, PermanentError, TransientError
from s3migrator.models import MAX_KEY_BYTES, CopySpec, Location
from s3migrator.work import WorkItem

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from s3migrator.sessions import S3Clients

log = logging.getLogger(__name__)

# Object properties a multipart upload must be given explicitly (CopyObject carries them itself).
_CARRIED_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentDisposition": "ContentDisposition",
    "ContentLanguage": "ContentLanguage",
    "CacheControl": "CacheControl",
    "Expires": "Expires",
    "Metadata": "Metadata",
}


def encryption(destination: Location) -> dict[str, Any]:
    """SSE-KMS with the job's key when it names one; otherwise the bucket's default applies."""
    if destination.kms_key_id is None:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": destination.kms_key_id}


@dataclass
class _Upload:
    s3: S3Client
    bucket: str
    key: str
    upload_id: str
    parts: list[Future[Any]] = field(default_factory=list)

    def end(self, timeout_s: float | None = None) -> None:
        """Cancel the parts not started, let the running ones end, then abort the upload."""
        for part in self.parts:
            part.cancel()
        wait(self.parts, timeout=timeout_s)
        try:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
        except Exception:
            log.warning("could not abort upload %s of %s", self.upload_id, self.key, exc_info=True)


@dataclass
class ObjectCopier:
    clients: S3Clients
    parts_pool: Executor
    multipart_threshold_bytes: int
    part_size_bytes: int
    # Multipart uploads under way, so that a copier that stops can abort them all.
    _uploads: dict[str, _Upload] = field(default_factory=dict)
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

    def copy(self, spec: CopySpec, item: WorkItem) -> int:
        """Copy one object and return the bytes copied; raises provider errors to translate.

        When the source changed since it was listed (its ETag no longer matches), the current
        version is read once more and copied under its own ETag, so the copy is whole and of
        one version; a second change in between fails the object.
        """
        try:
            self._copy(spec, item)
            return item.size
        except PROVIDER_ERRORS as exc:
            if not isinstance(translate(exc), ConditionFailedError):
                raise
        s3 = self.clients.for_location(spec.destination)
        head = s3.head_object(Bucket=spec.source.bucket, Key=item.key)
        current = WorkItem(key=item.key, size=head["ContentLength"], etag=head["ETag"])
        log.info("%s changed after listing; copying its current version", item.key)
        self._copy(spec, current)
        return current.size

    def landed(self, spec: CopySpec, item: WorkItem) -> bool:
        """Whether an earlier attempt already copied ``item`` (its answer lost to a crash or a
        timeout): the destination holds an object of its size and ETag. Asked only before an
        object is recorded failed; False when it cannot tell (a multipart copy's ETag differs,
        so only single-part copies are recognised)."""
        s3 = self.clients.for_location(spec.destination)
        try:
            head = s3.head_object(
                Bucket=spec.destination.bucket, Key=spec.destination_key(item.key)
            )
        except PROVIDER_ERRORS:
            return False
        return head.get("ContentLength") == item.size and head.get("ETag") == item.etag

    def _copy(self, spec: CopySpec, item: WorkItem) -> None:
        size = len(spec.destination_key(item.key).encode())
        if size > MAX_KEY_BYTES:
            raise PermanentError(
                "KeyTooLongError",
                f"the destination key would be {size} bytes; S3 keys hold at most {MAX_KEY_BYTES}",
            )
        threshold = spec.options.multipart_threshold_bytes or self.multipart_threshold_bytes
        # The destination side copies: it owns every new object and reads the source through
        # the source bucket's policy (see `s3migrator grant`).
        s3 = self.clients.for_location(spec.destination)
        if use_multipart(item.size, threshold) and item.size > 0:
            self._multipart(s3, spec, item)
        else:
            s3.copy_object(
                Bucket=spec.destination.bucket,
                Key=spec.destination_key(item.key),
                CopySource={"Bucket": spec.source.bucket, "Key": item.key},
                CopySourceIfMatch=item.etag,
                **encryption(spec.destination),
            )

    def _multipart(self, s3: S3Client, spec: CopySpec, item: WorkItem) -> None:
        source = {"Bucket": spec.source.bucket, "Key": item.key}
        head = s3.head_object(Bucket=spec.source.bucket, Key=item.key, IfMatch=item.etag)
        carried: dict[str, Any] = {
            arg: head[field]  # type: ignore[literal-required]
            for field, arg in _CARRIED_HEADERS.items()
            if head.get(field)
        }
        bucket, key = spec.destination.bucket, spec.destination_key(item.key)
        if self._stopping.is_set():
            raise TransientError("CopierStopping", "the copier is stopping; another copies it")
        upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, **carried, **encryption(spec.destination)
        )["UploadId"]
        upload = _Upload(s3, bucket, key, upload_id)
        with self._lock:
            self._uploads[upload_id] = upload
        part_size = spec.options.part_size_bytes or self.part_size_bytes
        try:
            upload.parts = [
                self.parts_pool.submit(
                    s3.upload_part_copy,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=part.number,
                    CopySource=source,  # type: ignore[arg-type]
                    CopySourceRange=part.header,
                    CopySourceIfMatch=item.etag,
                )
                for part in plan_parts(item.size, part_size)
            ]
            parts: list[CompletedPartTypeDef] = [
                {"PartNumber": number, "ETag": future.result()["CopyPartResult"]["ETag"]}
                for number, future in enumerate(upload.parts, start=1)
            ]
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with self._lock:
                mine = self._uploads.pop(upload_id, None) is not None
            if mine:  # else abandon() ends it
                upload.end()
            raise
        with self._lock:
            self._uploads.pop(upload_id, None)
