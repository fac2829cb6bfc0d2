"""Across accounts and regions with only role ARNs in the job message."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from coordinator.verify import verify
from s3migrator.models import Location
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

SOURCE_ROLE = "arn:aws:iam::111111111111:role/s3migrator-source"
DEST_ROLE = "arn:aws:iam::222222222222:role/s3migrator-destination"
MiB = 1024**2


def as_role(stack: Stack, role_arn: str, region: str) -> Any:
    """An S3 client of the account that owns ``role_arn``, as its administrator would use."""
    credentials = stack.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test-admin")[
        "Credentials"
    ]
    return boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_job_copies_between_accounts_and_regions_using_only_role_arns(stack: Stack) -> None:
    # GIVEN a source bucket of account 111111111111 in eu-west-1, and processes that run with
    # the task's own credentials (account 123456789012) and no keys of either account
    assert stack.cli("deploy").returncode == 0
    source_s3 = as_role(stack, SOURCE_ROLE, "eu-west-1")
    source_s3.create_bucket(
        Bucket="acme-old-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    objects = {f"data/{i:03d}.bin": os.urandom(100 + i) for i in range(60)}
    objects["data/big.bin"] = os.urandom(9 * MiB)
    for key, body in objects.items():
        source_s3.put_object(Bucket="acme-old-bucket", Key=key, Body=body)

    # WHEN the job names only the roles and regions, and the preflight passes
    sides = [
        "--source",
        "s3://acme-old-bucket",
        "--dest",
        "s3://acme-new-bucket",
        "--source-role",
        SOURCE_ROLE,
        "--dest-role",
        DEST_ROLE,
        "--source-region",
        "eu-west-1",
        "--dest-region",
        "us-west-2",
    ]
    checked = stack.cli("check", *sides)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "MISSING" not in checked.stdout
    submitted = stack.cli("submit", *sides, "--job-id", "merger")
    assert submitted.returncode == 0, submitted.stderr
    # (a stack that migrates between these two accounts allows them)
    stack.env["S3MIGRATOR_ALLOWED_ACCOUNTS"] = "111111111111,222222222222"
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    status = stack.wait_for_state("merger")

    # THEN the new bucket belongs to account 222222222222, in us-west-2, with every object
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_copied"] == status["objects_total"] == len(objects)
    dest_s3 = as_role(stack, DEST_ROLE, "us-west-2")
    assert "acme-new-bucket" in {b["Name"] for b in dest_s3.list_buckets()["Buckets"]}
    assert "acme-new-bucket" not in {b["Name"] for b in source_s3.list_buckets()["Buckets"]}
    location = dest_s3.get_bucket_location(Bucket="acme-new-bucket")["LocationConstraint"]
    assert location == "us-west-2"
    report = verify(dest_s3, Location(bucket="acme-old-bucket"), Location(bucket="acme-new-bucket"))
    assert report.ok, report
    assert report.objects == len(objects)
