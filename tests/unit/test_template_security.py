"""Who may start a job, and what a job may touch, as the stack's template enforces it.

Policies are resolved for given parameters (``Stack``, in ``test_template``), so each test states
the exact policy a deployed stack would hold, for empty and for filled parameters.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_template import ACCOUNT, IMAGE, Stack, decoded_template

from s3migrator.settings import SETTINGS_PREFIX, Settings

SUBMITTER = "arn:aws:iam::111122223333:role/ci/submit-jobs"
QUEUES = ("JobsQueue", "WorkQueue", "JobsDeadLetterQueue", "WorkDeadLetterQueue")
COORDINATOR, COPIER, PROGRESS = (
    "<CoordinatorTaskRole.Arn>",
    "<CopierTaskRole.Arn>",
    "<ProgressRole.Arn>",
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return decoded_template()


def send_denial(queue: str, senders: list[str] | None) -> dict[str, Any]:
    """A queue's sender rule: only ``senders`` may send, or (None) nobody."""
    statement: dict[str, Any] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": f"<{queue}.Arn>",
    }
    if senders is None:
        return {"Sid": "NoSenders", **statement}
    condition = {"ArnNotLike": {"aws:PrincipalArn": senders}}
    return {"Sid": "OnlyNamedSenders", **statement, "Condition": condition}


def tls_only(queue: str) -> dict[str, Any]:
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": f"<{queue}.Arn>",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def queue_policy(stack: Stack, queue: str) -> list[dict[str, Any]]:
    (policy,) = [
        name
        for name, r in stack.template["Resources"].items()
        if r["Type"] == "AWS::SQS::QueuePolicy" and r["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    properties = stack.properties(policy)
    assert properties["PolicyDocument"]["Version"] == "2012-10-17"
    return list(properties["PolicyDocument"]["Statement"])


@pytest.mark.parametrize(
    ("given", "jobs_senders", "work_senders"),
    [
        # the stack's processes, and the named submitters on the jobs queue
        (
            {
                "ContainerImage": IMAGE,
                "JobSubmitters": f"{SUBMITTER},arn:aws:iam::{ACCOUNT}:user/ops",
            },
            [COORDINATOR, PROGRESS, SUBMITTER, f"arn:aws:iam::{ACCOUNT}:user/ops"],
            [COORDINATOR, COPIER, PROGRESS],
        ),
        # no submitters: the stack's own roles alone
        ({"ContainerImage": IMAGE}, [COORDINATOR, PROGRESS], [COORDINATOR, COPIER, PROGRESS]),
        # no image: the processes run elsewhere, under the submitters' identities
        ({"JobSubmitters": SUBMITTER}, [SUBMITTER], [SUBMITTER]),
        # nobody named at all: nobody sends
        ({}, None, None),
    ],
)
def test_only_the_submitters_and_the_stacks_own_roles_may_send_to_the_queues(
    template: dict[str, Any],
    given: dict[str, str],
    jobs_senders: list[str] | None,
    work_senders: list[str] | None,
) -> None:
    # GIVEN the stack with or without its image and job submitters
    stack = Stack(template, given)
    # WHEN the queues' policies are resolved
    # THEN each denies SendMessage (and nothing else but plain HTTP) to anyone not named
    assert queue_policy(stack, "JobsQueue") == [
        send_denial("JobsQueue", jobs_senders),
        tls_only("JobsQueue"),
    ]
    assert queue_policy(stack, "WorkQueue") == [
        send_denial("WorkQueue", work_senders),
        tls_only("WorkQueue"),
    ]
    for dead_letters in ("JobsDeadLetterQueue", "WorkDeadLetterQueue"):
        assert queue_policy(stack, dead_letters) == [tls_only(dead_letters)]


def test_submitters_are_role_or_user_arns_and_the_coordinator_may_resolve_exactly_them(
    template: dict[str, Any],
) -> None:
    pattern = template["Parameters"]["JobSubmitters"]["AllowedPattern"]
    for accepted in ("", SUBMITTER, f"arn:aws:iam::{ACCOUNT}:user/ops"):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in (ACCOUNT, "arn:aws:iam::*:role/x", f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"):
        assert not re.fullmatch(pattern, refused), refused
    # GIVEN submitters WHEN the coordinator's lookup policy is resolved THEN it names them only
    stack = Stack(template, {"ContainerImage": IMAGE, "JobSubmitters": SUBMITTER})
    assert stack.properties("JobSubmittersLookup") == {
        "PolicyName": "resolve-job-submitters",
        "Roles": [{"Ref": "CoordinatorTaskRole"}],
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ResolveJobSubmitters",
                    "Effect": "Allow",
                    "Action": ["iam:GetRole", "iam:GetUser"],
                    "Resource": [SUBMITTER],
                }
            ],
        },
    }
    # AND without submitters there is nothing to resolve (an empty ARN would be invalid)
    assert not Stack(template, {"ContainerImage": IMAGE}).exists("JobSubmittersLookup")


def statements(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """Every identity policy statement of the stack's roles and policies, resolved."""
    found = []
    for name, resource in stack.template["Resources"].items():
        if not stack.exists(name):
            continue
        properties = stack.properties(name) if resource["Type"].startswith("AWS::IAM::") else {}
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        found += [(name, s) for d in documents for s in d["Statement"]]
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@pytest.mark.parametrize(
    ("given", "accounts"),
    [
        ({}, [ACCOUNT]),
        ({"AllowedAccounts": "444455556666,777788889999"}, ["444455556666", "777788889999"]),
    ],
)
def test_every_s3_statement_and_role_assumption_holds_only_in_the_allowed_accounts(
    template: dict[str, Any], given: dict[str, str], accounts: list[str]
) -> None:
    # GIVEN the stack with its own account only, or with named accounts
    stack = Stack(template, {"ContainerImage": IMAGE, **given})
    in_accounts = {"StringEquals": {"aws:ResourceAccount": accounts}}
    s3 = [(n, s) for n, s in statements(stack) if any(a.startswith("s3:") for a in actions(s))]
    assumes = [(n, s) for n, s in statements(stack) if "sts:AssumeRole" in actions(s)]
    # THEN every statement granting S3 or sts:AssumeRole is conditioned on those accounts
    assert {(n, s["Sid"]) for n, s in s3} == {
        ("CoordinatorTaskRole", "Buckets"),
        ("CoordinatorTaskRole", "WriteReports"),
        ("CopierTaskRole", "CopyObjects"),
    }
    assert all(s["Condition"] == in_accounts for _, s in s3)
    assert {n for n, _ in assumes} == {"CoordinatorTaskRole", "CopierTaskRole"}
    for _, statement in assumes:
        assert statement == {
            "Sid": "AssumeJobRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::*:role/s3migrator-*",
            "Condition": in_accounts,
        }
    # AND the processes are told the same accounts
    for environment in environments(stack).values():
        assert environment["S3MIGRATOR_ALLOWED_ACCOUNTS"] == ",".join(accounts)


def test_the_assumable_role_pattern_is_a_role_name_that_cannot_widen_the_accounts(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["AssumableRoleName"]
    assert parameter["Default"] == "s3migrator-*"
    for accepted in ("s3migrator-*", "team/s3migrator-*", "copy-role"):
        assert re.fullmatch(parameter["AllowedPattern"], accepted), accepted
    for refused in ("arn:aws:iam::*:role/s3migrator-*", "*:role/x", ""):
        assert not re.fullmatch(parameter["AllowedPattern"], refused), refused


def test_the_s3_endpoint_reaches_only_the_allowed_accounts_and_the_image_layers(
    template: dict[str, Any],
) -> None:
    stack = Stack(template, {"ContainerImage": IMAGE, "AllowedAccounts": "444455556666"})
    assert stack.properties("S3Endpoint")["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowedAccounts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceAccount": ["444455556666"]}},
            },
            {
                "Sid": "ImageLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*",
            },
        ],
    }


def test_only_this_accounts_ecs_tasks_and_lambda_functions_may_take_the_roles(
    template: dict[str, Any],
) -> None:
    stack = Stack(template, {"ContainerImage": IMAGE})
    services = {
        "TaskExecutionRole": "ecs-tasks.amazonaws.com",
        "CoordinatorTaskRole": "ecs-tasks.amazonaws.com",
        "CopierTaskRole": "ecs-tasks.amazonaws.com",
        "ProgressRole": "lambda.amazonaws.com",
    }
    for role, service in services.items():
        assert stack.properties(role)["AssumeRolePolicyDocument"] == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
                }
            ],
        }, role


def key_use(keys: list[str]) -> dict[str, Any]:
    via = [f"{service}.eu-west-1.amazonaws.com" for service in ("sqs", "dynamodb")]
    return {
        "PolicyName": "keys",
        "Roles": [
            {"Ref": "CoordinatorTaskRole"},
            {"Ref": "CopierTaskRole"},
            {"Ref": "ProgressRole"},
        ],
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Keys",
                    "Effect": "Allow",
                    "Action": [
                        "kms:Decrypt",
                        "kms:Encrypt",
                        "kms:GenerateDataKey",
                        "kms:DescribeKey",
                    ],
                    "Resource": keys,
                    "Condition": {"StringEquals": {"kms:ViaService": via}},
                }
            ],
        },
    }


def test_named_keys_encrypt_the_queues_and_table_and_the_roles_may_use_them(
    template: dict[str, Any],
) -> None:
    queue_key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    table_key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/abcd1234-12ab-34cd-56ef-1234567890ab"
    # GIVEN no keys THEN SQS-managed encryption and DynamoDB's managed key, and no key grants
    plain = Stack(template, {"ContainerImage": IMAGE})
    for queue in QUEUES:
        properties = plain.properties(queue)
        assert (properties["SqsManagedSseEnabled"], "KmsMasterKeyId" in properties) == (True, False)
    assert plain.properties("JobTable")["SSESpecification"] == {"SSEEnabled": True}
    assert not plain.exists("KeyUse")
    # GIVEN both keys THEN they encrypt, and the three roles may use them through the services
    keyed = Stack(
        template,
        {"ContainerImage": IMAGE, "QueueKmsKeyArn": queue_key, "TableKmsKeyArn": table_key},
    )
    for queue in QUEUES:
        properties = keyed.properties(queue)
        assert (properties["KmsMasterKeyId"], "SqsManagedSseEnabled" in properties) == (
            queue_key,
            False,
        )
    assert keyed.properties("JobTable")["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": table_key,
    }
    assert keyed.properties("KeyUse") == key_use([queue_key, table_key])
    # AND one key alone is granted alone
    queue_only = Stack(template, {"ContainerImage": IMAGE, "QueueKmsKeyArn": queue_key})
    assert queue_only.properties("KeyUse") == key_use([queue_key])
    assert queue_only.properties("JobTable")["SSESpecification"] == {"SSEEnabled": True}


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (IMAGE, "arn:aws:ecr:eu-west-1:444455556666:repository/s3migrator"),
        (
            "444455556666.dkr.ecr.us-east-2.amazonaws.com/team/s3migrator@sha256:" + "a" * 64,
            "arn:aws:ecr:us-east-2:444455556666:repository/team/s3migrator",
        ),
        (
            "444455556666.dkr.ecr.cn-north-1.amazonaws.com.cn/s3migrator.v2",
            "arn:aws:ecr:cn-north-1:444455556666:repository/s3migrator.v2",
        ),
    ],
)
def test_the_task_execution_role_pulls_only_the_images_repository(
    template: dict[str, Any], image: str, repository: str
) -> None:
    assert re.fullmatch(template["Parameters"]["ContainerImage"]["AllowedPattern"], image)
    role = Stack(template, {"ContainerImage": image}).properties("TaskExecutionRole")
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(by_sid) == {"EcrToken", "PullImage", "WriteLogs"}
    assert by_sid["EcrToken"]["Action"] == "ecr:GetAuthorizationToken"
    assert by_sid["PullImage"] == {
        "Sid": "PullImage",
        "Effect": "Allow",
        "Action": [
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
        ],
        "Resource": repository,
    }
    assert by_sid["WriteLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_images_outside_a_private_ecr_repository_are_refused(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["ContainerImage"]["AllowedPattern"]
    for refused in ("nginx:latest", "public.ecr.aws/x/y:1", "444455556666.dkr.ecr.x.example.com/y"):
        assert not re.fullmatch(pattern, refused), refused


def environments(stack: Stack) -> dict[str, dict[str, str]]:
    """The environment of the coordinator, the copier and the progress function."""
    found = {}
    for task in ("CoordinatorTask", "CopierTask"):
        (container,) = stack.properties(task)["ContainerDefinitions"]
        found[task] = {e["Name"]: e["Value"] for e in container["Environment"]}
    found["ProgressFunction"] = stack.properties("ProgressFunction")["Environment"]["Variables"]
    return found


def test_the_three_processes_are_told_who_may_submit_and_what_jobs_may_touch(
    template: dict[str, Any],
) -> None:
    # GIVEN the stack's security parameters
    external_ids = '{"arn:aws:iam::444455556666:role/s3migrator-src": "x-1"}'
    stack = Stack(
        template,
        {
            "ContainerImage": IMAGE,
            "JobSubmitters": f"{SUBMITTER},arn:aws:iam::{ACCOUNT}:user/ops",
            "AllowedAccounts": f"{ACCOUNT},444455556666",
            "RoleExternalIds": external_ids,
            "JobRetentionDays": "30",
        },
    )
    expected = {
        "S3MIGRATOR_JOB_SUBMITTERS": f"{SUBMITTER},arn:aws:iam::{ACCOUNT}:user/ops",
        "S3MIGRATOR_ALLOWED_ACCOUNTS": f"{ACCOUNT},444455556666",
        "S3MIGRATOR_EXTERNAL_IDS": external_ids,
        "S3MIGRATOR_JOB_RETENTION_DAYS": "30",
    }
    # THEN the variables are the settings' own names
    fields = {"job_submitters", "allowed_accounts", "external_ids", "job_retention_days"}
    assert fields <= set(Settings.model_fields)
    assert {f"{SETTINGS_PREFIX}{f.upper()}" for f in fields} == set(expected)
    # AND each process receives them
    for process, environment in environments(stack).items():
        assert {k: environment[k] for k in expected} == expected, process
