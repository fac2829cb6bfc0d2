"""Preflight: try the access a job will need before any copying, and say what is missing.

Each check makes the smallest real request that needs the permission (assume the role, list one
key, read one byte of a sample object as the copying side, head the destination, ask KMS for a
data key), so a missing permission shows up as that request's error, with the fix beside it.
``s3migrator check`` prints the table; the coordinator runs the same checks and fails the job
early with the table as its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from coordinator.source_grant import grant_statements
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import AccessDeniedError, NotFoundError, PermanentError, TransientError

if TYPE_CHECKING:
    from s3migrator.models import CopySpec, Location
    from s3migrator.sessions import S3Clients


class CheckResult(StrEnum):
    OK = "ok"
    MISSING = "MISSING"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    result: CheckResult
    detail: str
    fix: str = ""
    # MISSING for a reason that may pass (throttling, 5xx, a timeout): worth trying again.
    transient: bool = False


def _transient(exc: Exception) -> bool:
    return isinstance(translate(exc), TransientError)


def _denied(exc: Exception) -> bool:
    """True when the error is about permission, not about the object itself.

    An object that is missing, archived or empty proves the read was allowed; a refusal, or an
    error that left the question open (a timeout, expired credentials), does not.
    """
    error = translate(exc)
    return isinstance(error, AccessDeniedError) or not isinstance(error, PermanentError)


def _who(location: Location) -> str:
    return location.role_arn or "the task's own role"


def _owned_by(location: Location) -> str:
    return f", or the bucket is not owned by account {location.owner}" if location.owner else ""


def _check_role(clients: S3Clients, spec: CopySpec, side: str, location: Location) -> Check:
    if location.role_arn is None:
        return Check(f"assume {side} role", CheckResult.SKIPPED, "no role: the task's credentials")
    try:
        identity = (
            clients.sessions.for_location(location, spec)
            .client("sts", region_name=location.region or clients.sessions.default_region)
            .get_caller_identity()
        )
    except PROVIDER_ERRORS as exc:
        detail = str(translate(exc))
        return Check(
            f"assume {side} role",
            CheckResult.MISSING,
            detail,
            f"let the task role assume {location.role_arn} (sts:AssumeRole in its policy, and"
            " the task role as a principal in the role's trust policy, with sts:AssumeRole and"
            " sts:SetSourceIdentity: a job's sessions carry its sender as source identity)",
            transient=_transient(exc),
        )
    return Check(f"assume {side} role", CheckResult.OK, identity["Arn"])


def run_checks(clients: S3Clients, spec: CopySpec) -> list[Check]:
    """Every check, in the order a job needs them; later checks run even if earlier fail."""
    source, destination = spec.source, spec.destination
    checks = [
        _check_role(clients, spec, "source", source),
        _check_role(clients, spec, "destination", destination),
    ]
    bucket_arn = f"arn:aws:s3:::{source.bucket}"
    sample: str | None = None
    try:
        listed = clients.for_location(source, spec).list_objects_v2(
            Bucket=source.bucket,
            Prefix=source.prefix,
            MaxKeys=1,
            **source.expected_owner(),
            **spec.options.source_payer(),
        )
        contents = listed.get("Contents", [])
        sample = contents[0]["Key"] if contents else None
        checks.append(Check("list source", CheckResult.OK, f"s3:ListBucket on {bucket_arn}"))
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        detail = str(error)
        if isinstance(error, NotFoundError):
            # No permission can fix a bucket that is not there: say so plainly.
            missing = f"source bucket {source.bucket!r} does not exist ({detail})"
            fix = "check the source bucket's name, account and region"
            checks.append(Check("list source", CheckResult.MISSING, missing, fix))
        else:
            fix = f"allow s3:ListBucket on {bucket_arn} to {_who(source)}{_owned_by(source)}"
            transient = isinstance(error, TransientError)
            checks.append(Check("list source", CheckResult.MISSING, detail, fix, transient))
    checks.append(_check_read(clients, spec, sample))
    checks.append(_check_destination(clients, spec))
    if destination.kms_key_id:
        checks.append(_check_kms(clients, spec))
    return checks


def _check_read(clients: S3Clients, spec: CopySpec, sample: str | None) -> Check:
    source, destination = spec.source, spec.destination
    if sample is None:
        return Check("read source as destination", CheckResult.SKIPPED, "no object to try")
    try:
        # One byte, read by the side that copies: proves s3:GetObject and, for an SSE-KMS
        # source, kms:Decrypt on its key.
        clients.for_location(destination, spec).get_object(
            Bucket=source.bucket,
            Key=sample,
            Range="bytes=0-0",
            **source.expected_owner(),
            **spec.options.source_payer(),
        )
    except PROVIDER_ERRORS as exc:
        detail = str(translate(exc))
        if not _denied(exc):
            # The read was allowed; the sample itself could not be read (empty, archived,
            # deleted meanwhile), which the copy reports per object.
            return Check(
                "read source as destination",
                CheckResult.OK,
                f"s3:GetObject allowed on {sample!r} ({detail.split(':')[0]})",
            )
        reader = destination.role_arn
        if "KMS" in detail or "kms" in detail:
            fix = f"allow kms:Decrypt on the source's KMS key to {_who(destination)}"
        elif reader:
            policy = json.dumps({"Statement": grant_statements(source, reader)})
            as_owner = f" --source-role {source.role_arn}" if source.role_arn else ""
            fix = (
                f"allow s3:GetObject on arn:aws:s3:::{source.bucket}/{source.prefix}* to"
                f" {reader}: `s3migrator grant --source {source.url} --reader-role {reader}"
                f"{as_owner} --apply` adds {policy}"
            )
        else:
            fix = (
                f"allow s3:GetObject on arn:aws:s3:::{source.bucket}/{source.prefix}* to"
                " the task's own role"
            )
        return Check(
            "read source as destination", CheckResult.MISSING, detail, fix, _transient(exc)
        )
    return Check("read source as destination", CheckResult.OK, f"s3:GetObject on {sample!r}")


def _check_destination(clients: S3Clients, spec: CopySpec) -> Check:
    destination = spec.destination
    try:
        clients.for_location(destination, spec).head_bucket(
            Bucket=destination.bucket, **destination.expected_owner()
        )
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        detail = str(error)
        if isinstance(error, NotFoundError):
            return Check(
                "destination bucket",
                CheckResult.OK,
                "does not exist yet: created by the job (needs s3:CreateBucket,"
                " s3:PutBucketPublicAccessBlock, s3:PutBucketOwnershipControls,"
                " s3:PutEncryptionConfiguration, s3:Get/PutBucketPolicy and"
                f" s3:Get/PutLifecycleConfiguration for {_who(destination)})",
            )
        return Check(
            "destination bucket",
            CheckResult.MISSING,
            detail,
            f"allow s3:ListBucket and s3:PutObject on arn:aws:s3:::{destination.bucket} to"
            f" {_who(destination)}, or choose a bucket name not owned by another account"
            f"{_owned_by(destination)}",
            transient=isinstance(error, TransientError),
        )
    return Check(
        "destination bucket", CheckResult.OK, f"{destination.bucket} exists and is reachable"
    )


def _check_kms(clients: S3Clients, spec: CopySpec) -> Check:
    destination = spec.destination
    kms: Any = clients.sessions.for_location(destination, spec).client(
        "kms", region_name=destination.region or clients.sessions.default_region
    )
    try:
        kms.generate_data_key(KeyId=destination.kms_key_id, KeySpec="AES_256")
    except PROVIDER_ERRORS as exc:
        detail = str(translate(exc))
        return Check(
            "destination KMS key",
            CheckResult.MISSING,
            detail,
            f"allow kms:GenerateDataKey and kms:Decrypt on {destination.kms_key_id} to"
            f" {_who(destination)}",
            transient=_transient(exc),
        )
    return Check(
        "destination KMS key", CheckResult.OK, f"kms:GenerateDataKey on {destination.kms_key_id}"
    )


def passed(checks: list[Check]) -> bool:
    return all(check.result is not CheckResult.MISSING for check in checks)


def inconclusive(checks: list[Check]) -> bool:
    """Some check failed for a reason that may pass (throttling, 5xx, a timeout): the job is
    tried again later rather than failed."""
    return any(check.result is CheckResult.MISSING and check.transient for check in checks)


def as_text(checks: list[Check]) -> str:
    """A plain table, for a terminal or a job record's error."""
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.name:<{width}}  {check.result.value:<7}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<{width}}  {'fix:':<7}  {check.fix}")
    return "\n".join(lines)
