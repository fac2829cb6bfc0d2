"""Names and identifiers a job message carries, checked as AWS would check them.

Buckets, regions, prefixes, accounts, role and key ARNs: pure checks with no request made, used
by the wire models (``models.py``) and the CLI.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, Field

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
# IAM's own limits: a role's path and name in at most 512 + 64 characters, from this set.
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
# A KMS key by ARN only: an alias or a bare id would be resolved in whatever account and
# region the caller stands in, so the key's account and region could not be checked.
KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<id>[A-Za-z0-9-]{1,64})$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_KEY_BYTES = 1024
JOB_ID_RE = re.compile(JOB_ID_PATTERN)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` into (bucket, prefix); raises ValueError on anything else."""
    if not url.startswith("s3://"):
        raise ValueError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix


def _check_bucket(value: str) -> str:
    if not _BUCKET_RE.match(value) or ".." in value or _IP_RE.match(value):
        raise ValueError(f"invalid bucket name {value!r}")
    if value.startswith(_RESERVED_BUCKET_PREFIXES) or value.endswith(_RESERVED_BUCKET_SUFFIXES):
        raise ValueError(f"bucket name {value!r} uses a prefix or suffix S3 reserves")
    return value


BucketName = Annotated[str, AfterValidator(_check_bucket)]


@functools.cache
def _known_regions() -> frozenset[str]:
    """Every region botocore knows S3 in, in any partition (no request is made)."""
    import boto3

    session = boto3.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("s3", partition)
    )


def _check_region(value: str) -> str:
    if value not in _known_regions():
        raise ValueError(f"{value!r} is not an AWS region name")
    return value


def _check_prefix(value: str) -> str:
    if len(value.encode()) >= MAX_KEY_BYTES:
        raise ValueError("prefix must be shorter than 1024 bytes")
    if _CONTROL.search(value):
        raise ValueError("prefix must not contain control characters")
    return value


MAX_REPORT_PREFIX_CHARS = 512


def _check_report_prefix(value: str) -> str:
    if len(value) > MAX_REPORT_PREFIX_CHARS:
        raise ValueError(f"a report prefix holds at most {MAX_REPORT_PREFIX_CHARS} characters")
    return _check_prefix(value)


ReportPrefix = Annotated[str, AfterValidator(_check_report_prefix)]
Region = Annotated[str, AfterValidator(_check_region)]
Prefix = Annotated[str, AfterValidator(_check_prefix)]
AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]


def account_of_arn(arn: str) -> str:
    """The account id field of an ARN (``arn:aws:iam::111122223333:role/r`` → its account)."""
    return arn.split(":")[4]
