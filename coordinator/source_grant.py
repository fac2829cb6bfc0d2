"""Least-privilege read access for the copying role, as statements in the source bucket's policy.

The destination side copies (so the destination account owns every new object); it reads the
source through two statements scoped to exactly that role, that bucket and that prefix. They are
merged into the bucket's existing policy without touching other statements, and removed alone by
``--revoke``. KMS-encrypted sources also need ``kms:Decrypt`` in the key's policy (see README).

A prefix is the user's text inside a policy, where ``*`` and ``?`` are wildcards and ``${...}`` a
policy variable: ``policy_literal`` writes it with IAM's escapes so it matches only itself.

Example::

    policy = merge(existing, grant_statements(Location(bucket="src"), "arn:aws:iam::2:role/m"))
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import Missing, NotFoundError
from s3migrator.models import Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SID_PREFIX = "s3migrator"
# Listings (on the bucket's ARN, under the source's prefix): its objects, or every version.
LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions"]
# Requests on the bucket itself, which name no prefix (so none can condition them): where it
# is, and whether it has Object Lock (a job's object_lock "keep").
BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:GetBucketObjectLockConfiguration"]
READ_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectAcl",  # a job's copy_acl
    "s3:GetObjectRetention",  # the source's Object Lock retention, in its HeadObject answer
    "s3:GetObjectLegalHold",  # and its legal hold
]

Policy = dict[str, Any]

# IAM's predefined variables for its own special characters (User Guide, "IAM policy elements:
# Variables and tags", Special characters): ${*}, ${?} and ${$} stand for *, ? and $. Every $ is
# escaped, not only "${", so no part of a prefix can open a variable.
_SPECIAL = re.compile(r"[*?$]")


def policy_literal(text: str) -> str:
    """``text`` as it must appear in a policy's Resource or StringLike value to match itself.

    >>> policy_literal("a*b?/${x}")
    'a${*}b${?}/${$}{x}'
    """
    return _SPECIAL.sub(lambda found: "${" + found.group() + "}", text)


def grant_sids(source: Location, reader_role_arn: str) -> tuple[str, str, str]:
    """Statement ids unique to this (role, bucket, prefix), so grants never collide."""
    digest = hashlib.sha256(f"{reader_role_arn}|{source.bucket}|{source.prefix}".encode())
    tag = digest.hexdigest()[:12]
    return f"{SID_PREFIX}-list-{tag}", f"{SID_PREFIX}-bucket-{tag}", f"{SID_PREFIX}-read-{tag}"


def grant_statements(source: Location, reader_role_arn: str) -> list[dict[str, Any]]:
    list_sid, bucket_sid, read_sid = grant_sids(source, reader_role_arn)
    bucket_arn = f"arn:aws:s3:::{source.bucket}"
    # Bucket names cannot hold special characters; a prefix can (S3 keys are any UTF-8).
    prefix = policy_literal(source.prefix)
    listing: dict[str, Any] = {
        "Sid": list_sid,
        "Effect": "Allow",
        "Principal": {"AWS": reader_role_arn},
        "Action": LIST_ACTIONS,
        "Resource": bucket_arn,
    }
    if source.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    bucket = {
        "Sid": bucket_sid,
        "Effect": "Allow",
        "Principal": {"AWS": reader_role_arn},
        "Action": BUCKET_ACTIONS,
        "Resource": bucket_arn,
    }
    reading = {
        "Sid": read_sid,
        "Effect": "Allow",
        "Principal": {"AWS": reader_role_arn},
        "Action": READ_ACTIONS,
        "Resource": f"{bucket_arn}/{prefix}*",
    }
    return [listing, bucket, reading]


def _statements(policy: Policy | None) -> list[dict[str, Any]]:
    """A policy's statements; the grammar allows a single object as well as a list."""
    found = (policy or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def merge(policy: Policy | None, statements: list[dict[str, Any]]) -> Policy:
    """The policy with our statements added (or replaced), every other statement kept."""
    ours = {s["Sid"] for s in statements}
    kept = [s for s in _statements(policy) if s.get("Sid") not in ours]
    return {**(policy or {}), "Version": "2012-10-17", "Statement": [*kept, *statements]}


def revoke(policy: Policy | None, sids: tuple[str, ...]) -> Policy | None:
    """The policy without our statements; None when nothing else is left in it."""
    kept = [s for s in _statements(policy) if s.get("Sid") not in sids]
    return {**(policy or {}), "Statement": kept} if kept else None


def read_policy(s3: S3Client, bucket: str) -> Policy | None:
    """The bucket's policy, or None when it has none."""
    try:
        return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, NotFoundError) and error.missing is Missing.BUCKET_POLICY:
            return None
        raise error from exc


def write_policy(s3: S3Client, bucket: str, policy: Policy | None) -> None:
    with translated():
        if policy is None:
            s3.delete_bucket_policy(Bucket=bucket)
        else:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
