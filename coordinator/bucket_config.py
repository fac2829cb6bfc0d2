"""A bucket's configuration, carried with its name through a same-name migration.

A same-name migration copies the source bucket to a temporary bucket in the destination account,
deletes the source and re-creates the name there. Deleting a bucket deletes its configuration
with it, so ``read_config`` reads it first (into ``BucketConfig``, kept as JSON on the job's
record so a coordinator that dies in between does not lose it) and ``apply_config`` puts it on
the new bucket.

What travels: versioning status, default encryption, tags, lifecycle rules, CORS, Block Public
Access, Object Ownership, the bucket policy, static website hosting, server access logging and
event notifications. ``rewrite_accounts`` makes the documents that name the old account (the
policy, notification targets) name the new one.

What may not: a part S3 refuses on the new bucket (a policy naming principals the new account
does not have, logging to a bucket the new owner cannot write to, notifications to a queue, topic
or function that does not let the new bucket publish) is reported, not fatal: the bucket and its
objects matter more than any one setting, and the caller shows the reasons to the user. A KMS key
of the old account stays that account's key (its id cannot name a key of the new one), so the new
owner needs a grant on it. A part the source lacks is left as the new bucket has it: on AWS that
is SSE-S3, BucketOwnerEnforced and every public access block on, so a source without ownership
controls (ACLs in force) becomes owner-enforced. Notifications fire for every object written
after they are applied, the migration's own copies too. Not read at all: ACLs, MFA delete (only
the root user with its MFA device can set it), replication, inventory, analytics, metrics,
Intelligent-Tiering archive settings, transfer acceleration, requester pays and Object Lock.

Example::

    config = read_config(old_s3, "reports", expected_owner="111111111111")
    config, notes = rewrite_accounts(config, "111111111111", "222222222222")
    # ... copy out, delete, re-create "reports" in 222222222222 ...
    not_carried = apply_config(new_s3, "reports", config, expected_owner="222222222222")
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import Missing, NotFoundError, OperationError, PermanentError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 answers 404 for each part a bucket does not have: NoSuchTagSet, NoSuchCORSConfiguration,
# OwnershipControlsNotFoundError and the like.
_NOT_CONFIGURED_STATUS = 404


class BucketConfig(BaseModel):
    """One bucket's configuration; each field as S3's Get* answers it (None: not configured).

    Values are JSON values only (dates as ISO strings), so the model survives the job record's
    JSON unchanged and botocore takes every value back as it is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    versioning: Literal["Enabled", "Suspended"] | None = None
    # ServerSideEncryptionConfiguration.Rules
    encryption_rules: list[dict[str, Any]] | None = None
    # TagSet: [{"Key": ..., "Value": ...}]
    tags: list[dict[str, str]] | None = None
    lifecycle_rules: list[dict[str, Any]] | None = None
    # TransitionDefaultMinimumObjectSize, answered (and put) beside the lifecycle rules
    lifecycle_minimum_object_size: str | None = None
    cors_rules: list[dict[str, Any]] | None = None
    # PublicAccessBlockConfiguration: the four switches
    public_access_block: dict[str, bool] | None = None
    # OwnershipControls: {"Rules": [{"ObjectOwnership": ...}]}
    ownership_controls: dict[str, Any] | None = None
    # The policy document as S3 returns it (JSON text)
    policy: str | None = None
    # WebsiteConfiguration: IndexDocument, ErrorDocument, RedirectAllRequestsTo, RoutingRules
    website: dict[str, Any] | None = None
    # LoggingEnabled: TargetBucket, TargetPrefix, TargetGrants, TargetObjectKeyFormat
    logging: dict[str, Any] | None = None
    # NotificationConfiguration: Topic/Queue/LambdaFunctionConfigurations, EventBridge
    notifications: dict[str, Any] | None = None


def read_config(s3: S3Client, bucket: str, *, expected_owner: str | None) -> BucketConfig:
    """The bucket's configuration, one Get* request per part; a part the bucket does not have
    is None. Any other error (no such bucket, access denied, throttling) is raised translated:
    a configuration read in part would lose the rest with the bucket."""
    owner = _owner(expected_owner)
    # In the order apply_config puts them back.
    ownership = _get(lambda: s3.get_bucket_ownership_controls(Bucket=bucket, **owner))
    public_access = _get(lambda: s3.get_public_access_block(Bucket=bucket, **owner))
    encryption = _get(lambda: s3.get_bucket_encryption(Bucket=bucket, **owner))
    versioning = _get(lambda: s3.get_bucket_versioning(Bucket=bucket, **owner))
    policy = _get(lambda: s3.get_bucket_policy(Bucket=bucket, **owner))
    lifecycle = _get(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket, **owner))
    cors = _get(lambda: s3.get_bucket_cors(Bucket=bucket, **owner))
    tagging = _get(lambda: s3.get_bucket_tagging(Bucket=bucket, **owner))
    website = _get(lambda: s3.get_bucket_website(Bucket=bucket, **owner))
    logging = _get(lambda: s3.get_bucket_logging(Bucket=bucket, **owner))
    notifications = _get(lambda: s3.get_bucket_notification_configuration(Bucket=bucket, **owner))
    return BucketConfig(
        # A bucket whose versioning was never enabled answers no status at all.
        versioning=versioning.get("Status"),
        encryption_rules=encryption.get("ServerSideEncryptionConfiguration", {}).get("Rules"),
        tags=tagging.get("TagSet"),
        lifecycle_rules=lifecycle.get("Rules"),
        lifecycle_minimum_object_size=lifecycle.get("TransitionDefaultMinimumObjectSize"),
        cors_rules=cors.get("CORSRules"),
        public_access_block=public_access.get("PublicAccessBlockConfiguration"),
        ownership_controls=ownership.get("OwnershipControls"),
        policy=policy.get("Policy"),
        website=website or None,
        # Logging and notifications are never "not found": an empty answer means none.
        logging=logging.get("LoggingEnabled"),
        notifications=notifications or None,
    )


def rewrite_accounts(
    config: BucketConfig, old_account: str, new_account: str
) -> tuple[BucketConfig, list[str]]:
    """The configuration with ``old_account`` replaced by ``new_account`` wherever a document
    names it as an account (an ARN's account field, a principal or condition value that is the
    bare id), and one note per document changed. Other text that happens to hold the digits (a
    prefix, a tag) is left alone: only a whole value or an ARN's account field is an account."""
    if old_account == new_account:
        return config, []
    changes: dict[str, Any] = {}
    notes: list[str] = []
    if config.policy is not None:
        try:
            document = json.loads(config.policy)
        except json.JSONDecodeError:
            notes.append(f"policy: not JSON, so references to account {old_account} were kept")
        else:
            rewritten, count = _rewrite(document, old_account, new_account)
            if count:
                changes["policy"] = json.dumps(rewritten)
                notes.append(_rewritten("policy", count, old_account, new_account))
    for part, value in (("notifications", config.notifications), ("logging", config.logging)):
        rewritten, count = _rewrite(value, old_account, new_account)
        if count:
            changes[part] = rewritten
            notes.append(_rewritten(part, count, old_account, new_account))
    notes.extend(_kept_keys(config, old_account, new_account))
    return config.model_copy(update=changes), notes


def apply_config(
    s3: S3Client, bucket: str, config: BucketConfig, *, expected_owner: str | None
) -> list[str]:
    """Put every part that is set on the bucket; returns why each part S3 refused was not
    carried over (``"logging: <reason>"``), empty when all were.

    A refused part does not stop the others: each is independent, and the new bucket with its
    objects is worth more than any one setting. Transient errors, and the bucket being gone,
    are raised: the first may pass on a retry (every Put replaces, so applying twice is safe),
    the second leaves nothing to configure.
    """
    owner = _owner(expected_owner)
    minimum_size: dict[str, Any] = (
        {"TransitionDefaultMinimumObjectSize": config.lifecycle_minimum_object_size}
        if config.lifecycle_minimum_object_size
        else {}
    )
    # The order matters. Ownership first: it decides who owns what is written, and whether
    # ACLs count, from the first write on. Block Public Access before the policy: the new
    # bucket starts with every block on, which would refuse a public policy the source was
    # allowed. Encryption and versioning before anything that makes objects arrive (logs);
    # notifications last, once the bucket is what it will be (S3 sends each target a test
    # event as soon as they are set).
    puts: list[tuple[str, Any, Callable[[Any], object]]] = [
        (
            "ownership controls",
            config.ownership_controls,
            lambda v: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=v, **owner),
        ),
        (
            "public access block",
            config.public_access_block,
            lambda v: s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=v, **owner
            ),
        ),
        (
            "encryption",
            config.encryption_rules,
            lambda v: s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": v}, **owner
            ),
        ),
        (
            "versioning",
            config.versioning,
            lambda v: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": v}, **owner
            ),
        ),
        ("policy", config.policy, lambda v: s3.put_bucket_policy(Bucket=bucket, Policy=v, **owner)),
        (
            "lifecycle",
            config.lifecycle_rules,
            lambda v: s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": v}, **minimum_size, **owner
            ),
        ),
        (
            "CORS",
            config.cors_rules,
            lambda v: s3.put_bucket_cors(
                Bucket=bucket, CORSConfiguration={"CORSRules": v}, **owner
            ),
        ),
        (
            "tags",
            config.tags,
            lambda v: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": v}, **owner),
        ),
        (
            "website",
            config.website,
            lambda v: s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=v, **owner),
        ),
        (
            "logging",
            config.logging,
            lambda v: s3.put_bucket_logging(
                Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": v}, **owner
            ),
        ),
        (
            "notifications",
            config.notifications,
            lambda v: s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration=v, **owner
            ),
        ),
    ]
    not_carried: list[str] = []
    for part, value, put in puts:
        if value is None:
            continue
        try:
            put(value)
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if not _refused(error):
                raise error from exc
            not_carried.append(f"{part}: {error}")
    return not_carried


def _owner(expected_owner: str | None) -> dict[str, Any]:
    return {"ExpectedBucketOwner": expected_owner} if expected_owner else {}


def _get(call: Callable[[], Any]) -> dict[str, Any]:
    """One Get* answer without its metadata, as JSON values; empty when the part is not there."""
    try:
        answer = dict(call())
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if _not_configured(error):
            return {}
        raise error from exc
    answer.pop("ResponseMetadata", None)
    # Lifecycle dates come back as datetimes: JSON values keep the model JSON-equal.
    jsonable: dict[str, Any] = to_jsonable_python(answer)
    return jsonable


def _not_configured(error: OperationError) -> bool:
    """Whether a Get* error says only that the bucket lacks that part.

    Each such code is the part's own (NoSuchTagSet, NoSuchLifecycleConfiguration, ...), always
    with 404; the only other 404 a bucket's Get* can answer is NoSuchBucket, which ``translate``
    names. So: any 404 but a missing bucket, whether or not ``translate`` knows the code.
    """
    if isinstance(error, NotFoundError):
        return error.missing is not Missing.BUCKET
    return error.http_status == _NOT_CONFIGURED_STATUS


def _refused(error: OperationError) -> bool:
    """Whether a Put* error refuses only that part (its content, or this account's right to
    set it), rather than saying the bucket is gone or that a retry may pass."""
    if isinstance(error, NotFoundError) and error.missing is Missing.BUCKET:
        return False
    return isinstance(error, PermanentError)


def _account_field(old_account: str) -> re.Pattern[str]:
    """An ARN (``arn:partition:service:region:account:resource``) whose account is this one."""
    return re.compile(rf"^(arn:[^:]*:[^:]*:[^:]*:){re.escape(old_account)}(?=:)")


def _rewrite(value: Any, old_account: str, new_account: str) -> tuple[Any, int]:
    """``value`` with every string naming ``old_account`` rewritten, and how many were."""
    if isinstance(value, dict):
        pairs = [(key, _rewrite(item, old_account, new_account)) for key, item in value.items()]
        return {key: item for key, (item, _) in pairs}, sum(count for _, (_, count) in pairs)
    if isinstance(value, list):
        items = [_rewrite(item, old_account, new_account) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, str):
        if value == old_account:  # "AWS": "111111111111", "aws:SourceAccount": ...
            return new_account, 1
        rewritten, count = _account_field(old_account).subn(rf"\g<1>{new_account}", value)
        return rewritten, count
    return value, 0


def _rewritten(part: str, count: int, old_account: str, new_account: str) -> str:
    references = "reference" if count == 1 else "references"
    return f"{part}: {count} {references} to account {old_account} now name {new_account}"


def _kept_keys(config: BucketConfig, old_account: str, new_account: str) -> list[str]:
    """Notes for default-encryption KMS keys, which are never rewritten: a key's id is its
    own, so the same id in another account names no key at all."""
    notes: list[str] = []
    for rule in config.encryption_rules or []:
        key = rule.get("ApplyServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
        if not key:
            continue
        if _account_field(old_account).match(key):
            notes.append(
                f"encryption: KMS key {key} stays in account {old_account}; account"
                f" {new_account} needs a grant to use it, or a key of its own"
            )
        elif not key.startswith("arn:"):
            notes.append(
                f"encryption: KMS key {key} is named without its account, so account"
                f" {new_account} will look for it among its own keys"
            )
    return notes
