"""A same-name migration's safety gates end to end, with real processes on a moto server across
two accounts: a versioned source stops it before anything is copied; without the confirmation
it stops with its copy verified; a difference planted in the temporary bucket stops the
confirmed deletion with the source whole; resumed, it copies what differs and ends whole."""

from __future__ import annotations

import os
from typing import Any

import pytest

from s3migrator.migration_state import temporary_bucket
from tests.e2e.conftest import Stack
from tests.e2e.test_cross_account import DEST_ROLE, SOURCE_ROLE, as_role

pytestmark = pytest.mark.e2e

VERSIONED = "acme-logs"
DOCS = "acme-docs"


def migrate(stack: Stack, name: str, *extra: str, job_id: str | None = None) -> None:
    """``s3migrator submit --mode migrate`` of bucket ``name`` from account 111111111111 in
    eu-west-1 to account 222222222222 in us-west-2, as job ``job_id`` (``move-NAME``)."""
    submitted = stack.cli(
        "submit", "--mode", "migrate", "--job-id", job_id or f"move-{name}",
        "--source", f"s3://{name}", "--source-role", SOURCE_ROLE, "--source-region", "eu-west-1",
        "--dest", f"s3://{name}", "--dest-role", DEST_ROLE, "--dest-region", "us-west-2",
        *extra,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr


def ended(stack: Stack, job_id: str) -> dict[str, Any]:
    status = stack.wait_for_state(job_id, timeout_s=120)
    assert status["state"] != "running", (status, stack.dump_logs())
    return status


def objects_of(s3: Any, bucket: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_the_gates_stop_a_migration_with_the_source_whole_and_resume_finishes_it(
    stack: Stack,
) -> None:
    # GIVEN two buckets of account 111111111111 in eu-west-1: one versioned with a noncurrent
    # version, one of twelve objects; a stack allowed both accounts, two copiers
    assert stack.cli("deploy").returncode == 0
    source_s3 = as_role(stack, SOURCE_ROLE, "eu-west-1")
    dest_s3 = as_role(stack, DEST_ROLE, "us-west-2")
    where = {"LocationConstraint": "eu-west-1"}
    for name in (VERSIONED, DOCS):
        source_s3.create_bucket(Bucket=name, CreateBucketConfiguration=where)
    source_s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    source_s3.put_object(Bucket=VERSIONED, Key="app.log", Body=b"first")
    source_s3.put_object(Bucket=VERSIONED, Key="app.log", Body=b"second")
    docs = {f"doc/{i:02d}.txt": os.urandom(100 + i) for i in range(12)}
    for key, body in docs.items():
        source_s3.put_object(Bucket=DOCS, Key=key, Body=body)
    stack.env["S3MIGRATOR_ALLOWED_ACCOUNTS"] = "111111111111,222222222222"
    stack.env["S3MIGRATOR_MIGRATION_POLL_S"] = "1"
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")

    # WHEN the versioned bucket is migrated, its deletion confirmed but not its versions' loss
    migrate(stack, VERSIONED, "--yes-delete-source")
    # THEN it stops before anything is copied, saying how to accept the loss, both versions kept
    logs = ended(stack, f"move-{VERSIONED}")
    assert logs["state"] == "failed" and logs["percent"] == 0
    assert "keeps versions" in logs["error"] and '"noncurrent_versions": "drop"' in logs["error"]
    assert "nothing was copied" in logs["error"]
    versions = source_s3.list_object_versions(Bucket=VERSIONED)["Versions"]
    assert sorted(v["IsLatest"] for v in versions) == [False, True]

    # WHEN the other bucket is migrated without confirming its deletion
    migrate(stack, DOCS)
    # THEN it stops after the first copy, verified, with every object still in the source
    stopped = ended(stack, f"move-{DOCS}")
    assert stopped["state"] == "failed"
    assert stopped["migration"]["stopped_at"] == "copying_to_temporary", stopped["migration"]
    assert "is verified" in stopped["error"] and "--yes-delete-source" in stopped["error"]
    temporary = temporary_bucket(DOCS, f"move-{DOCS}")
    assert objects_of(dest_s3, temporary) == docs == objects_of(source_s3, DOCS)

    # WHEN one object of the temporary bucket is changed (same size, other bytes) and the
    # migration is resumed with the deletion confirmed
    planted = "doc/05.txt"
    dest_s3.put_object(Bucket=temporary, Key=planted, Body=os.urandom(len(docs[planted])))
    resumed = stack.cli("resume", f"move-{DOCS}", "--yes-delete-source")
    assert resumed.returncode == 0, resumed.stderr
    # THEN the verification before the deletion stops it, naming the object; the source is whole
    refused = ended(stack, f"move-{DOCS}")
    assert refused["state"] == "failed", refused
    assert "differs from" in refused["error"] and planted in refused["error"], refused["error"]
    assert objects_of(source_s3, DOCS) == docs

    # WHEN it is resumed once more
    again = stack.cli("resume", f"move-{DOCS}")
    assert again.returncode == 0, again.stderr
    # THEN a catch-up round copies what differs, and the bucket moves whole under its name
    finished = ended(stack, f"move-{DOCS}")
    assert finished["state"] == "succeeded", (finished, stack.dump_logs())
    assert dest_s3.get_bucket_location(Bucket=DOCS)["LocationConstraint"] == "us-west-2"
    assert objects_of(dest_s3, DOCS) == docs
    buckets = {b["Name"] for b in source_s3.list_buckets()["Buckets"]}
    assert DOCS not in buckets and VERSIONED in buckets
    assert temporary not in {b["Name"] for b in dest_s3.list_buckets()["Buckets"]}
