"""Preflight and the access commands, with moto enforcing IAM identity policies.

The process runs as an IAM user allowed everything (the task role); it assumes a source role in
one account and a destination role in another. Setup and THEN steps run unenforced; the WHEN of
each preflight test runs inside ``enable_iam_authentication()``. Moto checks the assumed roles'
inline policies, not bucket policies (so the grant tests check policy documents only), and it
names HeadBucket ``s3:HeadBucket`` (AWS checks ``s3:ListBucket``).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS, DESTINATION_ACCOUNT, SOURCE_ACCOUNT, Account, allow, role_arn
from copier_drain import drain
from moto.core import enable_iam_authentication
from moto_helpers import depth, fill

from coordinator.jobs import RunEnd
from coordinator.preflight import Check, CheckResult, as_text, passed, run_checks
from coordinator.source_grant import grant_statements
from progress.refresh import refresh
from s3migrator.aws import Aws, make_aws
from s3migrator.cli import main
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobMessage, JobState, Location, Mode
from s3migrator.resources import Resources
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings

SOURCE_OBJECTS = {"data/a.txt": b"alpha", "data/b.txt": b"bravo" * 100, "other/x": b"x"}
LIST_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation", "s3:HeadBucket"]
# What a copying job does on the destination side (moto: HeadBucket is s3:HeadBucket).
JOB_ACTIONS = [
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:CreateBucket",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetBucketLocation",
    "s3:HeadBucket",
]
LISTER = role_arn(SOURCE_ACCOUNT, "lister")
MIGRATOR = role_arn(DESTINATION_ACCOUNT, "migrator")
NO_READ = role_arn(DESTINATION_ACCOUNT, "migrator-no-read")
READER = role_arn(DESTINATION_ACCOUNT, "reader")


@pytest.fixture
def aws(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """The mock, with the process running as an IAM user allowed everything (the task role).

    Its key is also put in the environment, so the CLI in-process runs as that user too.
    """
    iam = aws.session.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(allow(["*"])))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return make_aws()


@pytest.fixture
def accounts(aws: Aws) -> dict[str, Account]:
    """The source bucket and lister role in one account, the copying roles in another."""
    source = Account.enter(aws.session, SOURCE_ACCOUNT)
    destination = Account.enter(aws.session, DESTINATION_ACCOUNT)
    fill(source.client("s3"), "src-bucket", SOURCE_OBJECTS)
    source.make_role("lister", LIST_ACTIONS)
    destination.make_role("migrator", JOB_ACTIONS)
    destination.make_role("migrator-no-read", [a for a in JOB_ACTIONS if a != "s3:GetObject"])
    return {"source": source, "destination": destination}


def spec_for(destination_role: str) -> CopySpec:
    return CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", prefix="data/", role_arn=LISTER),
        destination=Location(bucket="dst-bucket", role_arn=destination_role),
    )


def job_for(destination_role: str) -> JobMessage:
    spec = spec_for(destination_role)
    return JobMessage(
        job_id=spec.job_id, mode=Mode.COPY, source=spec.source, destination=spec.destination
    )


def checks_for(aws: Aws, destination_role: str) -> list[Check]:
    clients = s3_clients(aws, Settings())
    with enable_iam_authentication():
        return run_checks(clients, spec_for(destination_role))


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


# --- run_checks -----------------------------------------------------------------------------


def test_preflight_passes_for_roles_allowed_what_a_job_needs(
    aws: Aws, accounts: dict[str, Account]
) -> None:
    # WHEN the checks run for a destination role allowed every action a job needs
    checks = checks_for(aws, MIGRATOR)
    # THEN every check passes, each having made its real request
    assert passed(checks), as_text(checks)
    outcomes = {check.name: check.result for check in checks}
    assert outcomes == {
        "assume source role": CheckResult.OK,
        "assume destination role": CheckResult.OK,
        "list source": CheckResult.OK,
        "read source as destination": CheckResult.OK,
        "destination bucket": CheckResult.OK,
    }
    named = by_name(checks)
    assert named["assume destination role"].detail.startswith(
        f"arn:aws:sts::{DESTINATION_ACCOUNT}:assumed-role/migrator/"
    )
    assert named["read source as destination"].detail == "s3:GetObject on 'data/a.txt'"
    assert "does not exist yet" in named["destination bucket"].detail
    assert "MISSING" not in as_text(checks)


def test_a_job_whose_roles_pass_preflight_runs_to_success_under_enforcement(
    aws: Aws,
    accounts: dict[str, Account],
    resources: Resources,
    store: JobStore,
    sqs: Any,
    make_runner: Any,
) -> None:
    # WHEN the job runs with every request checked against the roles' policies
    with enable_iam_authentication():
        make_runner(allowed_accounts=BOTH_ACCOUNTS).run(job_for(MIGRATOR))
        drain(aws, resources, store)
        (status,) = refresh(store, sqs, resources, "job-1")
    # THEN it succeeded: preflight asked for no less than the job uses
    assert status.state is JobState.SUCCEEDED, status.error
    assert (status.objects_copied, status.objects_failed) == (2, 0)
    destination_s3 = accounts["destination"].client("s3")
    for key in ("a.txt", "b.txt"):
        copied = destination_s3.get_object(Bucket="dst-bucket", Key=key)["Body"].read()
        assert copied == SOURCE_OBJECTS[f"data/{key}"]


def test_a_copying_role_without_get_object_is_missing_read_with_the_exact_fix(
    aws: Aws, accounts: dict[str, Account]
) -> None:
    # WHEN the checks run for a destination role lacking only s3:GetObject
    checks = checks_for(aws, NO_READ)
    # THEN exactly the read check is MISSING, as the error the read itself got
    assert not passed(checks)
    missing = [check for check in checks if check.result is CheckResult.MISSING]
    assert [check.name for check in missing] == ["read source as destination"]
    (read,) = missing
    assert read.detail.startswith("AccessDenied")
    # AND its fix names the action, the keys under the prefix, and the role
    assert read.fix.startswith(f"allow s3:GetObject on arn:aws:s3:::src-bucket/data/* to {NO_READ}")
    # AND carries the exact statements `s3migrator grant` would add
    statements = grant_statements(spec_for(NO_READ).source, NO_READ)
    assert json.dumps({"Statement": statements}) in read.fix
    # AND the table shows it
    text = as_text(checks)
    assert "read source as destination  MISSING" in text
    assert "s3:GetObject on arn:aws:s3:::src-bucket/data/*" in text
    assert NO_READ in text


def test_a_role_that_cannot_be_assumed_is_missing_with_its_fix(
    aws: Aws, accounts: dict[str, Account]
) -> None:
    # GIVEN a destination role whose trust policy names only some other account
    trust_another_account = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    own = Account(aws.session, {}, aws.region)
    locked = own.make_role("locked", JOB_ACTIONS, trust=trust_another_account)
    # WHEN the checks run
    checks = checks_for(aws, locked)
    # THEN assuming it is MISSING, with AssumeRole's own error and the fix on both sides
    named = by_name(checks)
    assume = named["assume destination role"]
    assert assume.result is CheckResult.MISSING
    assert assume.detail.startswith("AccessDenied")
    assert f"let the task role assume {locked}" in assume.fix
    assert "trust policy" in assume.fix
    # AND the source side, reached through its own role, is unaffected
    assert named["assume source role"].result is CheckResult.OK
    assert named["list source"].result is CheckResult.OK
    assert not passed(checks)


# --- the coordinator ------------------------------------------------------------------------


def test_the_coordinator_fails_a_job_whose_preflight_fails_and_creates_nothing(
    aws: Aws,
    accounts: dict[str, Account],
    resources: Resources,
    store: JobStore,
    sqs: Any,
    make_runner: Any,
) -> None:
    # WHEN the coordinator runs a job whose copying role cannot read the source
    with enable_iam_authentication():
        outcome = make_runner(allowed_accounts=BOTH_ACCOUNTS).run(job_for(NO_READ))
    # THEN the message is done with, and the job failed with the preflight table as its reason
    assert outcome == RunEnd.FAILED
    job = store.get_job("job-1")
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert job.error.startswith("preflight failed:\n")
    assert "read source as destination  MISSING" in job.error
    assert "s3:GetObject on arn:aws:s3:::src-bucket/data/*" in job.error
    # AND no destination bucket was created, in any account, and nothing was queued
    assert "dst-bucket" not in accounts["destination"].bucket_names()
    assert "dst-bucket" not in Account(aws.session, {}, aws.region).bucket_names()
    assert depth(sqs, resources.work_queue_url) == 0
    assert job.listing.objects == 0


# --- the check command ----------------------------------------------------------------------


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for the table's rows on one line each (rich reads COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "1000")


def check_args(destination_role: str) -> list[str]:
    return [
        "check",
        "--source",
        "s3://src-bucket/data/",
        "--dest",
        "s3://dst-bucket/",
        "--source-role",
        LISTER,
        "--dest-role",
        destination_role,
    ]


def test_check_command_exits_1_and_prints_what_is_missing_then_0_once_allowed(
    aws: Aws,
    accounts: dict[str, Account],
    wide_terminal: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN `s3migrator check` runs for a copying role that cannot read the source
    with enable_iam_authentication():
        code = main(check_args(NO_READ))
    # THEN it exits 1 and the table names the missing permission and its fix
    out = capsys.readouterr().out
    assert code == 1
    assert "MISSING" in out
    assert "read source as destination" in out
    assert f"allow s3:GetObject on arn:aws:s3:::src-bucket/data/* to {NO_READ}" in out
    # WHEN it runs for a role allowed everything the job needs
    with enable_iam_authentication():
        code = main(check_args(MIGRATOR))
    # THEN it exits 0 and nothing is missing
    out = capsys.readouterr().out
    assert code == 0
    assert "MISSING" not in out
    assert "read source as destination" in out


def test_the_grant_command_that_check_suggests_runs_and_grants_the_read(
    aws: Aws,
    accounts: dict[str, Account],
    resources: Resources,
    wide_terminal: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN `s3migrator check` (run before any job is submitted) found the copying role cannot
    # read the source, and suggested a grant command
    with enable_iam_authentication():
        assert main(check_args(NO_READ)) == 1
    (suggested,) = re.findall(r"`(s3migrator grant [^`]*)`", capsys.readouterr().out)
    # WHEN the source bucket's owner runs that command as printed (confirming with --yes, as
    # no terminal asks here)
    code = main([*shlex.split(suggested)[1:], "--yes"])
    # THEN it succeeds, and the source bucket's policy holds the grant for that role and prefix
    assert code == 0, f"{suggested!r}: {capsys.readouterr().err}"
    s3 = accounts["source"].client("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket="src-bucket")["Policy"])
    expected = grant_statements(Location(bucket="src-bucket", prefix="data/"), NO_READ)
    assert [s for s in policy["Statement"] if s in expected] == expected


# --- the grant command ----------------------------------------------------------------------

FOREIGN = {
    "Sid": "KeepMe",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::src-bucket/public/*",
}
GRANT = ["grant", "--source", "s3://src-bucket/data/", "--reader-role", READER]


def bucket_policy(s3: Any) -> dict[str, Any]:
    return dict(json.loads(s3.get_bucket_policy(Bucket="src-bucket")["Policy"]))


@pytest.fixture
def policy_bucket(s3: Any) -> Any:
    """src-bucket in the process's account, with someone else's statement in its policy."""
    fill(s3, "src-bucket", {"data/a.txt": b"alpha"})
    s3.put_bucket_policy(
        Bucket="src-bucket",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [FOREIGN]}),
    )
    return s3


def test_grant_apply_merges_into_the_policy_once_and_revoke_leaves_the_rest(
    policy_bucket: Any, wide_terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    # WHEN the grant is applied
    assert main([*GRANT, "--apply", "--yes"]) == 0
    # THEN the foreign statement is kept and ours are added
    applied = bucket_policy(policy_bucket)
    assert applied["Statement"] == [FOREIGN, *ours]
    # WHEN it is applied again
    assert main([*GRANT, "--apply", "--yes"]) == 0
    # THEN nothing is duplicated
    assert bucket_policy(policy_bucket) == applied
    # WHEN it is revoked
    assert main([*GRANT, "--revoke"]) == 0
    # THEN only the foreign statement is left
    assert bucket_policy(policy_bucket)["Statement"] == [FOREIGN]
    out = capsys.readouterr().out
    assert f"granted {READER} read access to s3://src-bucket/data/" in out
    assert f"revoked {READER}'s read access to s3://src-bucket/data/" in out


def test_grant_revoke_of_the_only_statements_deletes_the_policy(s3: Any) -> None:
    # GIVEN a bucket whose policy holds only our grant
    fill(s3, "src-bucket", {})
    assert main([*GRANT, "--apply", "--yes"]) == 0
    # WHEN it is revoked THEN the bucket has no policy at all
    assert main([*GRANT, "--revoke"]) == 0
    with pytest.raises(s3.exceptions.ClientError) as raised:
        s3.get_bucket_policy(Bucket="src-bucket")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_grant_without_apply_prints_the_statements_and_changes_nothing(
    policy_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN grant runs without --apply
    assert main(GRANT) == 0
    # THEN it prints a policy of exactly our statements
    printed = json.loads(capsys.readouterr().out)
    expected = grant_statements(Location(bucket="src-bucket", prefix="data/"), READER)
    assert printed == {"Version": "2012-10-17", "Statement": expected}
    # AND the bucket's policy is as it was
    assert bucket_policy(policy_bucket)["Statement"] == [FOREIGN]
