"""The destination bucket at the start of a job: found, or created and hardened.

A bucket the tool creates is set up explicitly, whatever the account's defaults: Block Public
Access on every setting, object ownership enforced for the bucket owner (ACLs off), default
encryption (SSE-S3, or SSE-KMS with the job's key), a policy that refuses requests without TLS,
and a lifecycle rule that drops incomplete multipart uploads after a day (a copier killed
outright cannot abort its own). Every request names the account expected to own the bucket.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from coordinator.bucket_removal import region_of
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

    from s3migrator.models import Location

ABORT_UPLOADS_RULE = "s3migrator-abort-incomplete-uploads"
TLS_ONLY_SID = "s3migrator-tls-only"
LIFECYCLE: dict[str, Any] = {
    "Rules": [
        {
            "ID": ABORT_UPLOADS_RULE,
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
}


def bucket_exists(s3: S3Client, location: Location) -> bool:
    """Whether the bucket exists in the expected account; InvalidJobError when a bucket of
    that name exists but is not reachable as that account's (another owner, or no access)."""
    try:
        s3.head_bucket(Bucket=location.bucket, **location.expected_owner())
        return True
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AccessDeniedError):
            owner = location.owner or "this stack's account"
            raise InvalidJobError(
                f"bucket {location.bucket!r} exists but is not owned by {owner}, or that"
                " account may not reach it; nothing was written to it"
            ) from exc
        if not isinstance(error, NotFoundError):
            raise error from exc
        return False


def create_bucket(s3: S3Client, location: Location, region: str) -> bool:
    """Create the bucket, owner-enforced from its first moment; False when this account
    already owns it (someone made it since the job looked: it is not the job's)."""
    config: dict[str, Any] = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        s3.create_bucket(Bucket=location.bucket, ObjectOwnership="BucketOwnerEnforced", **config)
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, AlreadyOwnedError):
            return False
        if isinstance(error, AlreadyExistsError):
            raise InvalidJobError(f"destination bucket name {location.bucket!r} is taken") from exc
        raise error from exc
    return True


# S3 refuses requests signed more than 15 minutes off its clock: the coordinator's is no
# further off than that.
CLOCK_SKEW_S = 900


def made_since(
    s3: S3Client, location: Location, region: str, since: float | None, within_s: float
) -> bool:
    """Whether the bucket (of the caller's account) is in ``region``, was made within
    ``within_s`` of ``since`` (the time a request to make it was set out) and holds nothing;
    False when ``since`` is None."""
    if since is None:
        return False
    with translated():
        listed = s3.list_buckets(Prefix=location.bucket)["Buckets"]
        made = [b["CreationDate"].timestamp() for b in listed if b.get("Name") == location.bucket]
        if not made or not since - CLOCK_SKEW_S <= made[0] <= since + within_s + CLOCK_SKEW_S:
            return False
        if region_of(s3, location) != region:
            return False
        held = s3.list_object_versions(
            Bucket=location.bucket, MaxKeys=1, **location.expected_owner()
        )
    return not (held.get("Versions") or held.get("DeleteMarkers"))


def _read(call: Any, missing: str) -> Any:
    try:
        return call()
    except PROVIDER_ERRORS as exc:
        if missing in str(translate(exc)):
            return None
        raise translate(exc) from exc


def foreign(s3: S3Client, location: Location) -> bool:
    """Whether the bucket holds a policy statement or a lifecycle rule the tool does not set:
    then it is not one the job made (us-east-1 answers CreateBucket on a bucket this account
    owns with 200, so a bucket made by someone else meanwhile can look like the job's)."""
    bucket, owner = location.bucket, location.expected_owner()
    policy = _read(lambda: s3.get_bucket_policy(Bucket=bucket, **owner), "NoSuchBucketPolicy")
    statements = json.loads(policy["Policy"]).get("Statement", []) if policy else []
    rules = _read(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket, **owner),
        "NoSuchLifecycleConfiguration",
    )
    return any(st.get("Sid") != TLS_ONLY_SID for st in statements) or any(
        rule.get("ID") != ABORT_UPLOADS_RULE for rule in (rules or {}).get("Rules", [])
    )


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_ONLY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def default_encryption(location: Location) -> dict[str, Any]:
    if location.kms_key_id:
        rule: dict[str, Any] = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": location.kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
    else:
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    return {"Rules": [rule]}


def versioned(s3: S3Client, location: Location) -> bool:
    """Whether the bucket keeps versions (a job copying every version needs it to)."""
    with translated():
        answer = s3.get_bucket_versioning(Bucket=location.bucket, **location.expected_owner())
    return answer.get("Status") == "Enabled"


def harden(s3: S3Client, location: Location, *, versions: bool = False) -> None:
    """Apply every setting a created bucket gets (versioning too, for a job that copies every
    version); each is idempotent, so a run that died half-way through is finished by the next."""
    bucket, owner = location.bucket, location.expected_owner()
    with translated():
        if versions:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}, **owner
            )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
            **owner,
        )
        s3.put_bucket_ownership_controls(
            Bucket=bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            **owner,
        )
        encryption: Any = default_encryption(location)
        s3.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration=encryption, **owner
        )
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)), **owner)
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration=LIFECYCLE,  # type: ignore[arg-type]
            **owner,
        )
