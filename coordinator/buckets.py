"""Creating the destination bucket at the start of a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from s3migrator.errors import InvalidJobError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def ensure_bucket(s3: S3Client, bucket: str, region: str) -> bool:
    """Create the destination bucket when missing; True if this call created it."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        status = _status(exc)
        if status == 403:
            raise InvalidJobError(f"destination bucket {bucket!r} exists but is not ours") from exc
        if status != 404:
            raise
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "BucketAlreadyOwnedByYou":
            return False
        if code == "BucketAlreadyExists":
            raise InvalidJobError(f"destination bucket name {bucket!r} is taken") from exc
        raise
    return True
