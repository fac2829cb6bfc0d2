"""The S3 requests a split object's copiers make beside the parts: the source as it is now, an
earlier completion found in place, and the upload's abort (which an ended upload shrugs off)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from copier.overwrite import holds, multipart_etag
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import Missing, NotFoundError, PermanentError
from s3migrator.work import WorkItem, kept_class

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec

log = logging.getLogger(__name__)


def current_item(s3: S3Client, spec: CopySpec, item: WorkItem) -> WorkItem:
    """The object as the source holds it now (it changed since it was listed)."""
    head = s3.head_object(
        Bucket=spec.source.bucket,
        Key=item.key,
        **spec.source.expected_owner(),
        **spec.options.source_payer(),
    )
    if not head["ContentLength"]:
        raise PermanentError("EmptyNow", "the object changed to an empty one; redrive it")
    log.info("%s changed after listing; copying its current version", item.key)
    return WorkItem(
        key=item.key,
        size=head["ContentLength"],
        etag=head["ETag"],
        storage_class=kept_class(head.get("StorageClass")),
    )


def in_place(s3: S3Client, spec: CopySpec, item: WorkItem, parts: list[Any]) -> bool:
    """After NoSuchUpload: whether an earlier completion (its answer lost) put this very
    copy in place (its ETag is the one these parts make)."""
    try:
        head = s3.head_object(
            Bucket=spec.destination.bucket,
            Key=spec.destination_key(item.key),
            **spec.destination.expected_owner(),
        )
    except PROVIDER_ERRORS:
        return False
    return holds(head, item.size, multipart_etag([part["ETag"] for part in parts]))


def abort_upload(s3: S3Client, spec: CopySpec, item: WorkItem, upload_id: str) -> None:
    """Abort the upload; one already ended (aborted or completed) is no error."""
    try:
        s3.abort_multipart_upload(
            Bucket=spec.destination.bucket,
            Key=spec.destination_key(item.key),
            UploadId=upload_id,
            **spec.destination.expected_owner(),
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if not (isinstance(error, NotFoundError) and error.missing is Missing.UPLOAD):
            raise error from exc
