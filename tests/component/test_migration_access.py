"""Before a migration copies anything, it asks S3 whether the source's side may delete the
source's objects, without deleting any (moto enforcing the roles' IAM policies)."""

from __future__ import annotations

import json

import pytest
from accounts import SOURCE_ACCOUNT, Account, allow
from moto.core import enable_iam_authentication

from coordinator.bucket_removal import deletion_denied
from s3migrator.aws import Aws, make_aws
from s3migrator.models import CopySpec, Location
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings

READ = ["s3:ListBucket", "s3:GetObject", "s3:GetBucketLocation"]


@pytest.fixture
def aws(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """The process runs as an IAM user allowed everything (the task role)."""
    iam = aws.session.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(allow(["*"])))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return make_aws()


@pytest.mark.parametrize(
    ("actions", "denied"),
    [(READ, True), ([*READ, "s3:DeleteObject"], False)],
    ids=["read-only", "may-delete"],
)
def test_whether_the_source_side_may_delete_is_asked_without_deleting(
    aws: Aws, actions: list[str], denied: bool
) -> None:
    # GIVEN a versioned source bucket with one object, and a role of its account
    source = Account.enter(aws.session, SOURCE_ACCOUNT)
    s3 = source.client("s3")
    s3.create_bucket(Bucket="photos")
    s3.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="photos", Key="a.jpg", Body=b"a")
    role = source.make_role("owner", actions)
    location = Location(bucket="photos", role_arn=role)
    spec = CopySpec(job_id="mig-1", source=location, destination=Location(bucket="other"))
    # WHEN the migration asks, as that role, under IAM enforcement
    with enable_iam_authentication():
        reason = deletion_denied(s3_clients(aws, Settings()).for_location(location, spec), location)
    # THEN a role without s3:DeleteObject is refused, with S3's reason; one with it is not
    assert (reason is not None) == denied
    if reason is not None:
        assert reason.startswith("AccessDenied")
    # AND nothing was deleted, not even a delete marker written
    versions = s3.list_object_versions(Bucket="photos")
    assert [v["Key"] for v in versions["Versions"]] == ["a.jpg"]
    assert versions.get("DeleteMarkers", []) == []
