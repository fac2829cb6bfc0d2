"""A bucket's configuration through a same-name migration: read from the source before it is
deleted, its accounts rewritten, put on the bucket re-created under the name.

Moto stores every part read here but two pieces: EventBridge notifications (GetBucketNotification
Configuration answers without them) and TransitionDefaultMinimumObjectSize (always answered as
``all_storage_classes_128K``, whatever was put). The configurations here leave those out. Moto
checks neither ``ExpectedBucketOwner`` (the tests watch that each request sends it), nor a
policy's content, nor whether a notification target exists or lets the bucket publish: the
refusals are S3's answers, given on the client by botocore's events. A new moto bucket has no
configuration at all, where AWS answers SSE-S3, BucketOwnerEnforced and every public access
block on.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from accounts import DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account
from botocore import xform_name

from coordinator.bucket_config import BucketConfig, apply_config, read_config, rewrite_accounts
from s3migrator.aws import Aws
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import Missing, NotFoundError, TransientError

OWN_ACCOUNT = "123456789012"  # moto's account for the default credentials
BUCKET, LOGS = "reports", "reports-logs"
# Each part's name in its Get* and Put*, in the order both functions send them
PARTS = [
    "BucketOwnershipControls",
    "PublicAccessBlock",
    "BucketEncryption",
    "BucketVersioning",
    "BucketPolicy",
    "BucketLifecycleConfiguration",
    "BucketCors",
    "BucketTagging",
    "BucketWebsite",
    "BucketLogging",
    "BucketNotificationConfiguration",
]
LIFECYCLE_RULES: list[dict[str, Any]] = [
    {
        "ID": "old-logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    },
    {
        "ID": "archive",
        "Filter": {"And": {"Prefix": "archive/", "Tags": [{"Key": "keep", "Value": "yes"}]}},
        "Status": "Disabled",
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
    },
    # A date, which boto3 answers as a datetime: the job record's JSON must keep it.
    {
        "ID": "sunset",
        "Filter": {"Prefix": "tmp/"},
        "Status": "Enabled",
        "Expiration": {"Date": "2030-01-01T00:00:00Z"},
    },
]


def logs_policy(bucket: str) -> dict[str, Any]:
    """Lets S3's log delivery write into ``bucket`` (moto checks for it, as S3 does)."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": ["s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


def configured_source(aws: Aws, s3: Any) -> None:
    """BUCKET with every part set to something other than the default; its logs go to a bucket
    that lets S3 write them, its notifications to a queue and a topic."""
    s3.create_bucket(Bucket=LOGS)
    s3.put_bucket_policy(Bucket=LOGS, Policy=json.dumps(logs_policy(LOGS)))
    s3.create_bucket(Bucket=BUCKET)
    queue_arn, topic_arn = targets(aws.session)
    s3.put_bucket_ownership_controls(
        Bucket=BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    )
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    key = f"arn:aws:kms:us-east-1:{OWN_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    reader = {
        "Sid": "Readers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OWN_ACCOUNT}:role/reader"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [reader]})
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration={"Rules": LIFECYCLE_RULES}
    )
    cors = {
        "ID": "web",
        "AllowedMethods": ["GET", "PUT"],
        "AllowedOrigins": ["https://example.com"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 300,
    }
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [cors]})
    tags = [{"Key": "team", "Value": "data"}, {"Key": "cost-centre", "Value": "42"}]
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags})
    s3.put_bucket_website(
        Bucket=BUCKET,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "ErrorDocument": {"Key": "error.html"},
            "RoutingRules": [
                {
                    "Condition": {"KeyPrefixEquals": "docs/"},
                    "Redirect": {"ReplaceKeyPrefixWith": "documents/"},
                }
            ],
        },
    )
    s3.put_bucket_logging(
        Bucket=BUCKET,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": LOGS, "TargetPrefix": "reports/"}},
    )
    created = {"Name": "prefix", "Value": "incoming/"}
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "arrivals",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [created]}},
                }
            ],
            "TopicConfigurations": [
                {"Id": "removals", "TopicArn": topic_arn, "Events": ["s3:ObjectRemoved:*"]}
            ],
        },
    )


def targets(session: Any) -> tuple[str, str]:
    """A queue and a topic of the session's account, for notifications."""
    sqs, sns = session.client("sqs"), session.client("sns")
    queue_url = sqs.create_queue(QueueName="arrivals")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return queue["Attributes"]["QueueArn"], sns.create_topic(Name="removals")["TopicArn"]


def answers(s3: Any, bucket: str) -> dict[str, Any]:
    """What each Get* answers for the bucket, without the request's metadata; or its error."""
    found: dict[str, Any] = {}
    for operation in (f"Get{part}" for part in PARTS):
        try:
            answer = getattr(s3, xform_name(operation))(Bucket=bucket)
        except PROVIDER_ERRORS as exc:
            found[operation] = str(translate(exc))
        else:
            found[operation] = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    return found


def watch(s3: Any) -> list[tuple[str, str | None]]:
    """Each request the client sends from now on: its operation and expected owner header."""
    sent: list[tuple[str, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        sent.append((model.name, params["headers"].get("x-amz-expected-bucket-owner")))

    s3.meta.events.register("before-call.s3", record)
    return sent


def refuse(s3: Any, operation: str, status: int, code: str, message: str) -> None:
    """S3's error answer to every ``operation`` on the client (moto never sees the request)."""
    answer: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
    answer["ResponseMetadata"] = {"HTTPStatusCode": status}

    def refused(**_: Any) -> tuple[Any, dict[str, Any]]:
        return SimpleNamespace(status_code=status), answer

    s3.meta.events.register(f"before-call.s3.{operation}", refused)


def recreate(s3: Any, bucket: str) -> None:
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)


def test_every_part_read_from_a_bucket_is_set_on_the_bucket_re_created_under_its_name(
    aws: Aws, s3: Any
) -> None:
    # GIVEN a bucket with every part configured
    configured_source(aws, s3)
    before = answers(s3, BUCKET)
    sent = watch(s3)
    # WHEN its configuration is read, kept as the job record's JSON, the bucket deleted and
    # re-created under its name, and the configuration applied to it
    config = read_config(s3, BUCKET, expected_owner=OWN_ACCOUNT)
    stored = BucketConfig.model_validate_json(config.model_dump_json())
    recreate(s3, BUCKET)
    not_carried = apply_config(s3, BUCKET, stored, expected_owner=OWN_ACCOUNT)
    requests = list(sent)
    # THEN every part was carried over, and the JSON lost nothing
    assert not_carried == []
    assert stored == config
    # AND the new bucket answers every Get* as the source did
    assert answers(s3, BUCKET) == before
    # AND each part cost one request, each naming the expected owner, puts in the safe order
    assert requests == [
        *[(f"Get{part}", OWN_ACCOUNT) for part in PARTS],
        ("DeleteBucket", None),
        ("CreateBucket", None),
        *[(f"Put{part}", OWN_ACCOUNT) for part in PARTS],
    ]


def test_a_bucket_with_nothing_configured_reads_as_nothing_and_has_nothing_applied(
    s3: Any,
) -> None:
    # GIVEN a bucket with no configuration (on moto, not even the defaults AWS answers)
    s3.create_bucket(Bucket=BUCKET)
    before = answers(s3, BUCKET)
    # WHEN its configuration is read, and applied to the bucket re-created under its name
    config = read_config(s3, BUCKET, expected_owner=None)
    recreate(s3, BUCKET)
    sent = watch(s3)
    not_carried = apply_config(s3, BUCKET, config, expected_owner=None)
    # THEN every part is None, no request was sent, and the new bucket is as bare as the old
    assert config.model_dump() == dict.fromkeys(BucketConfig.model_fields)
    assert (not_carried, sent) == ([], [])
    assert answers(s3, BUCKET) == before


def test_account_ids_in_the_policy_and_notification_targets_are_rewritten_and_reported(
    aws: Aws,
) -> None:
    # GIVEN a bucket of one account whose policy names that account three times (and once in
    # an object key, which is no account), notifying a queue and a topic of that account
    old = Account.enter(aws.session, SOURCE_ACCOUNT)
    new = Account.enter(aws.session, DESTINATION_ACCOUNT)
    old_s3, new_s3 = old.client("s3"), new.client("s3")
    old_s3.create_bucket(Bucket=BUCKET)
    policy: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountReads",
                "Effect": "Allow",
                "Principal": {
                    "AWS": [SOURCE_ACCOUNT, f"arn:aws:iam::{SOURCE_ACCOUNT}:role/reader"]
                },
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/{SOURCE_ACCOUNT}/*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": SOURCE_ACCOUNT}},
            }
        ],
    }
    old_s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    queue = f"arn:aws:sqs:us-east-1:{SOURCE_ACCOUNT}:arrivals"
    topic = f"arn:aws:sns:us-east-1:{SOURCE_ACCOUNT}:removals"
    old_s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"Id": "arrivals", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}
            ],
            "TopicConfigurations": [
                {"Id": "removals", "TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}
            ],
        },
    )
    # WHEN it is read, its accounts rewritten, and it is re-created under its name in the
    # other account, which applies the configuration
    config = read_config(old_s3, BUCKET, expected_owner=SOURCE_ACCOUNT)
    rewritten, notes = rewrite_accounts(config, SOURCE_ACCOUNT, DESTINATION_ACCOUNT)
    old_s3.delete_bucket(Bucket=BUCKET)
    new_s3.create_bucket(Bucket=BUCKET)
    not_carried = apply_config(new_s3, BUCKET, rewritten, expected_owner=DESTINATION_ACCOUNT)
    # THEN each document that named the account is reported
    assert notes == [
        f"policy: 3 references to account {SOURCE_ACCOUNT} now name {DESTINATION_ACCOUNT}",
        f"notifications: 2 references to account {SOURCE_ACCOUNT} now name {DESTINATION_ACCOUNT}",
    ]
    # AND the new bucket holds them naming the new account (the object key is unchanged)
    assert not_carried == []
    statement = policy["Statement"][0]
    assert json.loads(new_s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            statement
            | {
                "Principal": {
                    "AWS": [DESTINATION_ACCOUNT, f"arn:aws:iam::{DESTINATION_ACCOUNT}:role/reader"]
                },
                "Condition": {"StringEquals": {"aws:PrincipalAccount": DESTINATION_ACCOUNT}},
            }
        ],
    }
    assert read_config(new_s3, BUCKET, expected_owner=DESTINATION_ACCOUNT) == rewritten
    assert rewritten.notifications == {
        "QueueConfigurations": [
            {
                "Id": "arrivals",
                "QueueArn": f"arn:aws:sqs:us-east-1:{DESTINATION_ACCOUNT}:arrivals",
                "Events": ["s3:ObjectCreated:*"],
            }
        ],
        "TopicConfigurations": [
            {
                "Id": "removals",
                "TopicArn": f"arn:aws:sns:us-east-1:{DESTINATION_ACCOUNT}:removals",
                "Events": ["s3:ObjectRemoved:*"],
            }
        ],
    }


def test_a_kms_key_of_the_old_account_is_kept_and_reported() -> None:
    # GIVEN default encryption under a key of the old account, and one named by alias
    key = f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    rules = [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": k}}
        for k in (key, "alias/reports")
    ]
    config = BucketConfig(encryption_rules=rules)
    # WHEN its accounts are rewritten
    rewritten, notes = rewrite_accounts(config, SOURCE_ACCOUNT, DESTINATION_ACCOUNT)
    # THEN the keys are unchanged (no key of that id is the new account's), and said so
    assert rewritten == config
    assert notes == [
        f"encryption: KMS key {key} stays in account {SOURCE_ACCOUNT}; account"
        f" {DESTINATION_ACCOUNT} needs a grant to use it, or a key of its own",
        f"encryption: KMS key alias/reports is named without its account, so account"
        f" {DESTINATION_ACCOUNT} will look for it among its own keys",
    ]


def test_parts_s3_refuses_are_reported_and_the_rest_is_applied(aws: Aws, s3: Any) -> None:
    # GIVEN a bucket with every part configured, read before it is re-created
    configured_source(aws, s3)
    config = read_config(s3, BUCKET, expected_owner=OWN_ACCOUNT)
    recreate(s3, BUCKET)
    # AND S3 refuses the policy and the logging for the new bucket
    refuse(s3, "PutBucketPolicy", 400, "MalformedPolicy", "Invalid principal in policy")
    refuse(s3, "PutBucketLogging", 400, "InvalidTargetBucketForLogging", "No write access")
    # WHEN the configuration is applied
    not_carried = apply_config(s3, BUCKET, config, expected_owner=OWN_ACCOUNT)
    # THEN those two are reported, in the order they were tried, and every other part is set
    assert not_carried == [
        "policy: MalformedPolicy: Invalid principal in policy",
        "logging: InvalidTargetBucketForLogging: No write access",
    ]
    after = read_config(s3, BUCKET, expected_owner=OWN_ACCOUNT)
    assert after == config.model_copy(update={"policy": None, "logging": None})


def test_a_throttled_put_is_raised_not_reported(s3: Any) -> None:
    # GIVEN a configuration with tags, and S3 slowing down the tagging request
    s3.create_bucket(Bucket=BUCKET)
    refuse(s3, "PutBucketTagging", 503, "SlowDown", "Please reduce your request rate.")
    config = BucketConfig(tags=[{"Key": "team", "Value": "data"}])
    # WHEN it is applied THEN the error is raised, for the job to retry
    with pytest.raises(TransientError) as raised:
        apply_config(s3, BUCKET, config, expected_owner=None)
    assert str(raised.value) == "SlowDown: Please reduce your request rate."


def test_reading_a_bucket_that_is_not_there_raises_not_found(s3: Any) -> None:
    # GIVEN no bucket WHEN its configuration is read THEN the missing bucket is raised
    with pytest.raises(NotFoundError) as raised:
        read_config(s3, BUCKET, expected_owner=None)
    assert (raised.value.code, raised.value.missing) == ("NoSuchBucket", Missing.BUCKET)
