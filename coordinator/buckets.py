"""Creating the destination bucket at the start of a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AlreadyOwnedError,
    InvalidJobError,
    NotFoundError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def ensure_bucket(s3: S3Client, bucket: str, region: str) -> bool:
    """Create the destination bucket when missing; True if this call created it."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AccessDeniedError):
            raise InvalidJobError(f"destination bucket {bucket!r} exists but is not ours") from exc
        if not isinstance(error, NotFoundError):
            raise error from exc
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AlreadyOwnedError):
            return False
        if isinstance(error, AlreadyExistsError):
            raise InvalidJobError(f"destination bucket name {bucket!r} is taken") from exc
        raise error from exc
    with translated():
        # Uploads a copier could not abort (killed outright) are dropped after a day.
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "s3migrator-abort-incomplete-uploads",
                        "Filter": {"Prefix": ""},
                        "Status": "Enabled",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )
    return True
