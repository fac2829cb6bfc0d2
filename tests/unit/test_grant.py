"""Source bucket policy statements: one role, one bucket and prefix, read-only; merged and revoked
without touching anyone else's statements."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from coordinator.source_grant import (
    grant_sids,
    grant_statements,
    merge,
    policy_literal,
    revoke,
)
from s3migrator.models import Location

READER = "arn:aws:iam::222222222222:role/migrator"
OTHER_READER = "arn:aws:iam::333333333333:role/migrator"

FOREIGN = {
    "Sid": "LogDelivery",
    "Effect": "Allow",
    "Principal": {"Service": "logging.s3.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::src-bucket/logs/*",
}


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def by_sid(policy: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert policy is not None
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.mark.parametrize("prefix", ["", "data/"])
def test_statements_name_exactly_the_reader_role_and_only_read_actions(prefix: str) -> None:
    # GIVEN a source with or without a prefix WHEN its grant is built
    statements = grant_statements(Location(bucket="src-bucket", prefix=prefix), READER)
    # THEN there are three Allow statements, each with the reader role as sole principal
    assert len(statements) == 3
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": READER}
        # AND no action writes, deletes or wildcards
        for action in actions(statement):
            assert action.startswith(("s3:Get", "s3:List")), action
            assert "*" not in action
            assert not any(word in action for word in ("Put", "Delete", "Abort", "Restore"))


def test_without_a_prefix_listing_is_unconditional_and_reading_covers_every_key() -> None:
    # GIVEN a whole-bucket source WHEN its grant is built
    listing, _, reading = grant_statements(Location(bucket="src-bucket"), READER)
    # THEN listing is on the bucket ARN with no condition, reading on every key
    assert listing["Resource"] == "arn:aws:s3:::src-bucket"
    assert "s3:ListBucket" in actions(listing)
    assert "Condition" not in listing
    assert reading["Resource"] == "arn:aws:s3:::src-bucket/*"
    assert "s3:GetObject" in actions(reading)
    assert "Condition" not in reading


def test_with_a_prefix_listing_is_conditioned_on_it_and_reading_limited_to_it() -> None:
    # GIVEN a source under a prefix WHEN its grant is built
    source = Location(bucket="src-bucket", prefix="data/2024/")
    listing, bucket, reading = grant_statements(source, READER)
    # THEN listing is on the bucket ARN, allowed only for that prefix
    assert listing["Resource"] == "arn:aws:s3:::src-bucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["data/2024/*"]}}
    # AND the bucket's own requests, which name no prefix, are not conditioned on one
    assert bucket["Resource"] == "arn:aws:s3:::src-bucket"
    assert "s3:GetBucketObjectLockConfiguration" in actions(bucket)
    assert "Condition" not in bucket
    # AND reading is on keys under the prefix only
    assert reading["Resource"] == "arn:aws:s3:::src-bucket/data/2024/*"
    assert "s3:GetObject" in actions(reading)


def test_sids_are_stable_for_the_same_role_bucket_and_prefix() -> None:
    # GIVEN the same (role, bucket, prefix) described twice WHEN sids are computed
    one = grant_sids(Location(bucket="src-bucket", prefix="data/"), READER)
    two = grant_sids(Location(bucket="src-bucket", prefix="data/", region="eu-west-1"), READER)
    # THEN they are equal, distinct from each other, and are the statements' sids
    assert one == two
    assert one[0] != one[1]
    statements = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    assert tuple(s["Sid"] for s in statements) == one


def test_sids_differ_for_each_role_bucket_and_prefix() -> None:
    # GIVEN grants that differ in exactly one of role, bucket or prefix
    variants = [
        grant_sids(Location(bucket="src-bucket", prefix="data/"), READER),
        grant_sids(Location(bucket="src-bucket", prefix="data/"), OTHER_READER),
        grant_sids(Location(bucket="other-bucket", prefix="data/"), READER),
        grant_sids(Location(bucket="src-bucket", prefix="logs/"), READER),
        grant_sids(Location(bucket="src-bucket"), READER),
    ]
    # THEN no two share a sid
    every_sid = [sid for pair in variants for sid in pair]
    assert len(set(every_sid)) == len(every_sid)
    # AND every sid is a valid IAM statement id (alphanumerics and hyphens here)
    assert all(sid.replace("-", "").isalnum() for sid in every_sid)


def test_merge_into_no_policy_gives_a_versioned_policy_of_our_statements() -> None:
    statements = grant_statements(Location(bucket="src-bucket"), READER)
    # WHEN merged into a bucket that has no policy
    policy = merge(None, statements)
    # THEN it is a complete policy with the current language version
    assert policy == {"Version": "2012-10-17", "Statement": statements}


def test_merge_keeps_foreign_statements_and_policy_fields() -> None:
    # GIVEN an existing policy with its own id and a foreign statement
    existing = {"Version": "2012-10-17", "Id": "corp-policy", "Statement": [FOREIGN]}
    before = copy.deepcopy(existing)
    statements = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    # WHEN our grant is merged
    policy = merge(existing, statements)
    # THEN the foreign statement and the policy id are kept, ours are added
    assert policy["Id"] == "corp-policy"
    assert policy["Statement"][0] == FOREIGN
    assert policy["Statement"][1:] == statements
    # AND the input policy is not modified
    assert existing == before


def test_merging_twice_does_not_duplicate_and_replaces_an_edited_statement() -> None:
    statements = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    once = merge({"Version": "2012-10-17", "Statement": [FOREIGN]}, statements)
    # GIVEN our statement was hand-edited in the bucket since (an extra action)
    edited = json.loads(json.dumps(once))
    edited["Statement"][2]["Action"] = [*edited["Statement"][2]["Action"], "s3:PutObject"]
    # WHEN the grant is merged again
    twice = merge(edited, statements)
    # THEN there is still one foreign statement and one of each of ours, as generated
    assert len(twice["Statement"]) == 4
    assert twice == once
    assert json.dumps(twice, sort_keys=True) == json.dumps(once, sort_keys=True)


def test_merge_keeps_a_grant_for_another_prefix() -> None:
    # GIVEN a grant for data/ already in the policy
    data = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    logs = grant_statements(Location(bucket="src-bucket", prefix="logs/"), READER)
    # WHEN a grant for logs/ is merged
    policy = merge(merge(None, data), logs)
    # THEN both grants are there
    assert set(by_sid(policy)) == {s["Sid"] for s in [*data, *logs]}


def test_revoke_removes_only_our_statements() -> None:
    source = Location(bucket="src-bucket", prefix="data/")
    other = grant_statements(Location(bucket="src-bucket", prefix="logs/"), READER)
    policy = merge(merge({"Statement": [FOREIGN]}, other), grant_statements(source, READER))
    # WHEN this grant is revoked
    left = revoke(policy, grant_sids(source, READER))
    # THEN the foreign statement and the other prefix's grant remain, in order
    assert left is not None
    assert left["Statement"] == [FOREIGN, *other]
    assert left["Version"] == "2012-10-17"


def test_revoke_returns_none_when_nothing_else_is_left() -> None:
    source = Location(bucket="src-bucket", prefix="data/")
    policy = merge(None, grant_statements(source, READER))
    # WHEN our only statements are revoked THEN there is no policy left to write
    assert revoke(policy, grant_sids(source, READER)) is None
    # AND revoking from no policy at all is also nothing
    assert revoke(None, grant_sids(source, READER)) is None


def test_revoke_of_a_grant_not_present_leaves_the_policy_as_it_was() -> None:
    policy = {"Version": "2012-10-17", "Statement": [FOREIGN]}
    left = revoke(policy, grant_sids(Location(bucket="src-bucket"), READER))
    assert left == policy


def test_merge_and_revoke_accept_a_statement_given_as_a_single_object() -> None:
    # GIVEN a bucket policy whose Statement is one object, not a list (valid policy grammar;
    # GetBucketPolicy hands the document back as it was written)
    existing = {"Version": "2012-10-17", "Statement": FOREIGN}
    source = Location(bucket="src-bucket", prefix="data/")
    ours = grant_statements(source, READER)
    # WHEN our grant is merged THEN the foreign statement is kept beside ours
    assert merge(existing, ours)["Statement"] == [FOREIGN, *ours]
    # AND revoking (nothing of ours there) keeps it too
    left = revoke(existing, grant_sids(source, READER))
    assert left is not None
    assert left["Statement"] in (FOREIGN, [FOREIGN])


# --- prefixes that hold IAM's special characters --------------------------------------------


def unescape(text: str) -> str:
    """What IAM reads a value as: its three escapes stand for the characters themselves."""
    return text.replace("${*}", "*").replace("${?}", "?").replace("${$}", "$")


def test_a_prefix_with_wildcards_and_a_variable_is_escaped_in_both_statements() -> None:
    # GIVEN a prefix holding a wildcard, a single-character wildcard and a policy variable
    source = Location(bucket="src-bucket", prefix="a*b?/${aws:username}/")
    # WHEN its grant is built
    listing, _, reading = grant_statements(source, READER)
    # THEN each special character is IAM's escape for itself, the trailing * the only wildcard
    escaped = "a${*}b${?}/${$}{aws:username}/"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{escaped}*"]}}
    assert reading["Resource"] == f"arn:aws:s3:::src-bucket/{escaped}*"


@pytest.mark.parametrize(
    ("prefix", "escaped"),
    [
        ("", ""),
        ("data/2024/", "data/2024/"),
        ("*", "${*}"),
        ("??/", "${?}${?}/"),
        ("cost$/", "cost${$}/"),
        ("${*}", "${$}{${*}}"),
        ("=*?$}{", "=${*}${?}${$}}{"),
    ],
)
def test_policy_literal_escapes_each_special_character_once(prefix: str, escaped: str) -> None:
    # WHEN a prefix is written as a policy literal
    literal = policy_literal(prefix)
    # THEN it is exactly the expected text, and IAM reads it back as the prefix itself
    assert literal == escaped
    assert unescape(literal) == prefix


def test_a_literal_has_no_wildcard_or_variable_left_outside_an_escape() -> None:
    # GIVEN every special character next to every other
    literal = policy_literal("*?$*${?}$$**??")
    # WHEN the escapes are taken out THEN no *, ? or $ is left bare
    bare = literal.replace("${*}", "").replace("${?}", "").replace("${$}", "")
    assert not any(special in bare for special in "*?$")
