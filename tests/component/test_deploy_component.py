"""The real CloudFormation template, deployed into moto."""

from __future__ import annotations

import ast
import json
from typing import Any

import boto3
import pytest

from s3migrator.aws import Aws
from s3migrator.cli import main
from s3migrator.cli.deployment import deploy, deployer_arn
from s3migrator.cli.stack import OWN_OPTIONS
from s3migrator.jobstore import JOBS_INDEX
from s3migrator.resources import OUTPUTS, resolve
from s3migrator.settings import Settings

ACCOUNT = "123456789012"  # moto's
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/s3migrator:1"


def queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def test_template_deploys_twice_with_the_same_outputs(aws: Aws) -> None:
    # WHEN the stack is deployed, then deployed again unchanged
    first = deploy(aws, "s3migrator")
    second = deploy(aws, "s3migrator")
    # THEN the first created resources, the second changed nothing, and both name every output
    # the processes resolve, with the same values
    assert first.created and any(c.logical_id == "WorkQueue" for c in first.changes)
    assert not second.created and second.changes == []
    assert set(OUTPUTS) <= set(first.outputs)
    assert second.outputs == first.outputs
    first = first.outputs
    resources = resolve(aws, Settings(stack_name="s3migrator"))
    assert resources.table_name == first["TableName"]
    assert resources.work_queue_url == first["WorkQueueUrl"]


def test_queues_redrive_to_their_dead_letter_queues(aws: Aws, sqs: Any) -> None:
    # GIVEN the deployed stack
    outputs = deploy(aws, "s3migrator").outputs
    # WHEN the queues' redrive policies are read
    for queue, dlq, max_receives in (
        ("JobsQueueUrl", "JobsDlqUrl", 5),
        ("WorkQueueUrl", "WorkDlqUrl", 10),
    ):
        attributes = sqs.get_queue_attributes(
            QueueUrl=outputs[queue], AttributeNames=["RedrivePolicy"]
        )["Attributes"]
        policy = json.loads(attributes["RedrivePolicy"])
        # THEN each points at its own dead-letter queue with the template's receive count
        assert policy["deadLetterTargetArn"] == queue_arn(sqs, outputs[dlq])
        assert int(policy["maxReceiveCount"]) == max_receives


def test_table_has_the_keys_and_jobs_index_the_store_uses(aws: Aws) -> None:
    # (moto ignores TimeToLiveSpecification in templates, so TTL is not checked here)
    outputs = deploy(aws, "s3migrator").outputs
    table = aws.dynamodb().describe_table(TableName=outputs["TableName"])["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == JOBS_INDEX
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        ("kind", "HASH"),
        ("created_at", "RANGE"),
    ]


def stack_parameters(aws: Aws, stack: str = "s3migrator") -> dict[str, str]:
    """The stack's parameters as CloudFormation describes them (lists joined with commas)."""
    (described,) = aws.cloudformation().describe_stacks(StackName=stack)["Stacks"]
    parameters = {}
    for parameter in described["Parameters"]:
        value = parameter["ParameterValue"]
        # moto describes a list parameter as the repr of a Python list
        if value.startswith("["):
            value = ",".join(ast.literal_eval(value))
        parameters[parameter["ParameterKey"]] = value
    return parameters


def session_of(role_arn: str) -> Aws:
    """An Aws whose credentials are an assumed-role session of ``role_arn``."""
    assumed = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="deploying")
    credentials = assumed["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )
    return Aws(session)


def test_deploy_accepts_job_messages_from_the_deploying_identity_by_default(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN `s3migrator deploy` runs without naming job submitters
    assert main(["deploy"]) == 0
    # THEN the deploying user, by its IAM ARN, is the stack's one submitter, and it is told so
    submitter = f"arn:aws:iam::{ACCOUNT}:user/moto"
    assert stack_parameters(aws)["JobSubmitters"] == submitter
    assert f"job messages accepted from: {submitter}" in capsys.readouterr().out


def test_an_assumed_role_session_submits_as_its_role_path_included(aws: Aws) -> None:
    # GIVEN a session of a role with a path, as SSO and CI roles have
    aws.session.client("iam").create_role(
        RoleName="ci-submitter",
        Path="/ci/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    session = session_of(f"arn:aws:iam::{ACCOUNT}:role/ci/ci-submitter")
    # WHEN the deploying identity is named
    # THEN it is the role's ARN (what aws:PrincipalArn says), not the session's
    assert deployer_arn(session) == f"arn:aws:iam::{ACCOUNT}:role/ci/ci-submitter"


def test_a_role_whose_path_cannot_be_read_is_taken_to_have_none_with_a_warning(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a role session whose role iam:GetRole cannot read
    session = session_of(f"arn:aws:iam::{ACCOUNT}:role/unreadable")
    # WHEN the deploying identity is named THEN the role is taken to sit at the root path
    assert deployer_arn(session) == f"arn:aws:iam::{ACCOUNT}:role/unreadable"
    assert "its path is taken to be /" in caplog.text
    assert "--job-submitters" in caplog.text


def test_the_deploy_options_become_the_stacks_parameters(aws: Aws) -> None:
    # GIVEN every security option of `s3migrator deploy`
    submitters = f"arn:aws:iam::{ACCOUNT}:role/ci-jobs,arn:aws:iam::{ACCOUNT}:user/ops"
    external_ids = {"arn:aws:iam::444455556666:role/s3migrator-source": "copy-2026"}
    code = main(
        [
            "deploy",
            "--job-submitters",
            submitters,
            "--allowed-accounts",
            f"{ACCOUNT}, 444455556666",
            "--role-external-ids",
            json.dumps(external_ids),
            "--job-retention-days",
            "30",
        ]
    )
    # THEN they are the stack's parameters, the external ids in one spelling (so that deploying
    # them again changes nothing)
    assert code == 0
    parameters = stack_parameters(aws)
    assert {k: parameters[k] for k in OWN_OPTIONS} == {
        "JobSubmitters": submitters,
        "AllowedAccounts": f"{ACCOUNT},444455556666",
        "RoleExternalIds": '{"arn:aws:iam::444455556666:role/s3migrator-source":"copy-2026"}',
        "JobRetentionDays": "30",
    }


@pytest.mark.parametrize(
    "options",
    [
        ["--job-submitters", ACCOUNT],
        ["--job-submitters", f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/session"],
        ["--allowed-accounts", "1234"],
        ["--role-external-ids", "not json"],
        ["--role-external-ids", '["arn:aws:iam::444455556666:role/r"]'],
        ["--role-external-ids", '{"arn:aws:iam::444455556666:user/u": "copy-2026"}'],
        ["--role-external-ids", '{"arn:aws:iam::444455556666:role/r": 7}'],
        ["--job-retention-days", "0"],
        ["--parameter", f"JobSubmitters=arn:aws:iam::{ACCOUNT}:user/ops"],
    ],
)
def test_bad_security_options_are_refused_before_anything_is_deployed(
    aws: Aws, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN deploy is given an option the template would refuse
    code = main(["deploy", *options])
    # THEN it is a usage error that names the option, and no stack was started
    assert code == 2
    assert options[0] in capsys.readouterr().err
    assert aws.cloudformation().list_stacks()["StackSummaries"] == []


def test_the_tasks_are_told_the_stacks_settings_and_pull_only_their_repository(
    aws: Aws,
) -> None:
    # GIVEN the stack with its image, one submitter and the default accounts
    submitter = f"arn:aws:iam::{ACCOUNT}:role/ci-jobs"
    parameters = {"ContainerImage": IMAGE, "JobSubmitters": submitter}
    outputs = deploy(aws, "full", parameters=parameters).outputs
    # WHEN the coordinator's task definition and the task execution role are read
    ecs = aws.session.client("ecs", region_name=aws.region)
    services = ecs.describe_services(
        cluster=outputs["ClusterName"],
        services=ecs.list_services(cluster=outputs["ClusterName"])["serviceArns"],
    )["services"]
    containers = [
        container
        for service in services
        for container in ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
            "taskDefinition"
        ]["containerDefinitions"]
    ]
    (container,) = [c for c in containers if c["name"] == "coordinator"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    (progress_role,) = [
        r
        for r in aws.session.client("iam").list_roles()["Roles"]
        if "ProgressRole" in r["RoleName"]
    ]
    iam = aws.session.client("iam")
    (role,) = [r for r in iam.list_roles()["Roles"] if "TaskExecutionRole" in r["RoleName"]]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="pull-image-and-log")
    # moto keeps a template's inline policy as the repr of a Python dict
    statements = ast.literal_eval(document["PolicyDocument"])["Statement"]
    pulls = {s["Sid"]: s for s in statements}["PullImage"]
    # THEN the settings name the submitter and this account, with the default retention
    assert {k: v for k, v in environment.items() if k.startswith("S3MIGRATOR_J")} | {
        "S3MIGRATOR_ALLOWED_ACCOUNTS": environment["S3MIGRATOR_ALLOWED_ACCOUNTS"],
        "S3MIGRATOR_EXTERNAL_IDS": environment["S3MIGRATOR_EXTERNAL_IDS"],
    } == {
        "S3MIGRATOR_JOBS_QUEUE_URL": outputs["JobsQueueUrl"],
        "S3MIGRATOR_JOBS_DLQ_URL": outputs["JobsDlqUrl"],
        "S3MIGRATOR_JOBS_VISIBILITY_S": "60",
        "S3MIGRATOR_JOB_SUBMITTERS": submitter,
        # The progress function relays the dashboard's jobs for their callers.
        "S3MIGRATOR_JOB_RELAYS": progress_role["RoleId"],
        "S3MIGRATOR_JOB_RETENTION_DAYS": "90",
        "S3MIGRATOR_ALLOWED_ACCOUNTS": ACCOUNT,
        "S3MIGRATOR_EXTERNAL_IDS": "{}",
    }
    # AND the execution role pulls from the image's repository alone
    assert pulls["Resource"] == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/s3migrator"
