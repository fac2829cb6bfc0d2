"""The stack's wiring: scaling, schedules and alarms point at the right queue, service, function.

``Stack`` resolves the decoded template for given parameters (conditions, ``Fn::If``, ``Fn::Split``
and the other functions it uses), so a test can state what a deployed stack would hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from s3migrator.cli.deployment import MAX_TEMPLATE_BODY_BYTES, template_body
from s3migrator.resources import OUTPUT_SOURCES, OUTPUTS
from s3migrator.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
ACCOUNT = "111122223333"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "s3migrator",
}
IMAGE = "444455556666.dkr.ecr.eu-west-1.amazonaws.com/s3migrator:1"
NO_VALUE = object()


@dataclass
class Stack:
    """The template resolved for some parameters: conditions, references and functions."""

    template: dict[str, Any]
    given: dict[str, str] = field(default_factory=dict)

    def parameter(self, name: str) -> Any:
        declared = self.template["Parameters"][name]
        value = str(self.given.get(name, declared.get("Default", "")))
        return value.split(",") if declared["Type"] == "CommaDelimitedList" else value

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in self.template["Resources"]:
                    return node
                return PSEUDO[arg] if arg in PSEUDO else self.parameter(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else arg
                values = {k: str(self.resolve(v)) for k, v in names.items()}

                def name(match: re.Match[str]) -> str:
                    ref = match.group(1)
                    if ref in values:
                        return values[ref]
                    if "." in ref:
                        return f"<{ref}>"
                    return str(self.resolve({"Ref": ref}))

                return re.sub(r"\$\{([^}]+)\}", name, text)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def properties(self, name: str) -> dict[str, Any]:
        resource = self.template["Resources"][name]
        assert "Condition" not in resource or self.condition(resource["Condition"]), name
        return dict(self.resolve(resource["Properties"]))

    def exists(self, name: str) -> bool:
        resource = self.template["Resources"][name]
        return "Condition" not in resource or self.condition(resource["Condition"])


def decoded_template() -> dict[str, Any]:
    decoded, problems = decode_str(TEMPLATE.read_text())
    assert not problems
    return dict(decoded)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return decoded_template()


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name])


def test_copier_service_scales_on_backlog_per_copier_between_zero_and_the_maximum(
    template: dict[str, Any],
) -> None:
    target = resource(template, "CopierScaling")["Properties"]
    assert target["ResourceId"] == {"Fn::Sub": "service/${Cluster}/${CopierService.Name}"}
    assert target["MinCapacity"] == 0
    assert target["MaxCapacity"] == {"Ref": "MaxCopiers"}
    tracking = resource(template, "CopierBacklogTracking")["Properties"]
    assert tracking["ScalingTargetId"] == {"Ref": "CopierScaling"}
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == {"Ref": "TargetBacklogPerCopier"}
    metric = config["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "BacklogPerCopier"
    assert metric["Namespace"] == {"Fn::Sub": "s3migrator/${AWS::StackName}"}
    # tracking cannot leave zero tasks: an alarm on the same namespace starts the first copier
    start = resource(template, "WorkWaitingWithNoCopier")["Properties"]
    assert start["MetricName"] == "CopiersNeededFromZero"
    assert start["AlarmActions"] == [{"Ref": "CopierStartFromZero"}]
    assert resource(template, "CopierStartFromZero")["Properties"]["ScalingTargetId"] == {
        "Ref": "CopierScaling"
    }


def test_coordinator_scales_between_zero_and_one_on_the_jobs_queue(
    template: dict[str, Any],
) -> None:
    target = resource(template, "CoordinatorScaling")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 1)
    for alarm, policy in (
        ("JobsWaiting", "CoordinatorScaleOut"),
        ("JobsDrained", "CoordinatorScaleIn"),
    ):
        properties = resource(template, alarm)["Properties"]
        assert properties["AlarmActions"] == [{"Ref": policy}]
        queues = {
            str(m["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
            for m in properties["Metrics"]
            if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] == "AWS/SQS"
        }
        assert queues == {str({"Fn::GetAtt": ["JobsQueue", "QueueName"]})}
    # A job still listing has no message left; the progress function's metric keeps the
    # coordinator up for it.
    drained = resource(template, "JobsDrained")["Properties"]["Metrics"]
    assert "JobsNeedingCoordinator" in {
        m["MetricStat"]["Metric"]["MetricName"] for m in drained if "MetricStat" in m
    }


def test_progress_function_runs_every_minute_and_is_allowed_to_be_invoked(
    template: dict[str, Any],
) -> None:
    rule = resource(template, "ProgressSchedule")["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ProgressFunction", "Arn"]}
    permission = resource(template, "ProgressSchedulePermission")["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["ProgressSchedule", "Arn"]}
    url = resource(template, "ProgressUrl")["Properties"]
    assert url["AuthType"] == "AWS_IAM"


def test_dead_letter_and_job_failure_alarms_notify_the_topic(template: dict[str, Any]) -> None:
    for alarm, queue in (
        ("WorkDeadLettersAlarm", "WorkDeadLetterQueue"),
        ("JobsDeadLettersAlarm", "JobsDeadLetterQueue"),
    ):
        properties = resource(template, alarm)["Properties"]
        assert properties["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        assert properties["Threshold"] == 0
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    failed = resource(template, "JobFailedAlarm")["Properties"]
    assert failed["MetricName"] == "JobsEndedWithFailures"
    assert failed["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_no_policy_grants_every_action_and_roles_assume_only_the_allowed_pattern(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"].items()
    roles = {name: r for name, r in resources if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {
        "TaskExecutionRole",
        "CoordinatorTaskRole",
        "CopierTaskRole",
        "ProgressRole",
    }
    # Grants only some stacks need (customer managed keys, submitters) are policies of their own.
    documents = [
        (name, policy["PolicyDocument"])
        for name, role in roles.items()
        for policy in role["Properties"]["Policies"]
    ] + [
        (name, r["Properties"]["PolicyDocument"])
        for name, r in resources
        if r["Type"] == "AWS::IAM::Policy"
    ]
    for name, document in documents:
        for statement in document["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            assert "*" not in actions, name
            assert all(not a.endswith(":*") for a in actions), name
            if "sts:AssumeRole" in actions:
                assert statement["Resource"] == {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${AssumableRoleName}"
                }, name


def test_outputs_name_every_resource_the_commands_resolve(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert set(OUTPUTS) <= set(outputs)
    for output, logical_id in OUTPUT_SOURCES.items():
        assert outputs[output]["Value"] == {"Ref": logical_id}


def test_copier_stops_within_the_ecs_stop_timeout_and_runs_as_non_root(
    template: dict[str, Any],
) -> None:
    for task in ("CopierTask", "CoordinatorTask"):
        (container,) = resource(template, task)["Properties"]["ContainerDefinitions"]
        assert container["StopTimeout"] == 30  # above the copier's 25 s stop grace
        assert container["User"] != "0"
        assert container["ReadonlyRootFilesystem"] is True
        names = {e["Name"] for e in container["Environment"]}
        assert {f"S3MIGRATOR_{field.upper()}" for field in OUTPUTS.values()} <= names


def test_a_dead_copiers_batches_are_back_in_play_within_30_seconds(
    template: dict[str, Any],
) -> None:
    # A batch stays invisible for the work queue's visibility timeout (the copier extends it
    # every third while it lives), and a copier holds few batches ahead of its copies.
    settings = Settings()
    assert settings.work_visibility_s <= 30 and settings.messages_in_flight <= 2
    assert template["Parameters"]["WorkVisibilityTimeout"]["Default"] <= 30
    copier = resource(template, "CopierTask")["Properties"]["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in copier["Environment"]}
    assert environment["S3MIGRATOR_WORK_VISIBILITY_S"] == {"Ref": "WorkVisibilityTimeout"}


def allowed(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, resource logical id) pairs a role's policies allow."""
    pairs: set[tuple[str, str]] = set()
    for policy in resource(template, role)["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                for target in resources if isinstance(resources, list) else [resources]:
                    name = target.get("Fn::GetAtt", ["?"])[0] if isinstance(target, dict) else "?"
                    pairs.add((action, name))
    return pairs


def test_the_progress_function_may_do_what_its_dead_letter_sweep_does(
    template: dict[str, Any],
) -> None:
    # The sweep receives, hides (a claimed batch) and deletes dead letters, counts batches in a
    # transaction (governed by UpdateItem and PutItem), reads jobs in one (GetItem), and sends
    # a counted batch's remainder to the work queue.
    granted = allowed(template, "ProgressRole")
    for action in ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"):
        assert (action, "WorkDeadLetterQueue") in granted, action
    assert ("sqs:SendMessage", "WorkQueue") in granted
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"):
        assert (action, "JobTable") in granted, action


def test_the_progress_function_reserves_a_few_runs_unless_told_none(
    template: dict[str, Any],
) -> None:
    function = Stack(template, {"ContainerImage": IMAGE}).properties("ProgressFunction")
    assert function["ReservedConcurrentExecutions"] == "5"
    unreserved = Stack(template, {"ContainerImage": IMAGE, "ProgressConcurrency": "0"})
    assert "ReservedConcurrentExecutions" not in unreserved.properties("ProgressFunction")


def test_alarms_reach_the_topic_through_a_key_cloudwatch_may_use(
    template: dict[str, Any],
) -> None:
    stack = Stack(template)
    assert stack.properties("AlarmTopic")["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = stack.properties("AlarmTopicKey")
    assert key["EnableKeyRotation"] is True
    assert key["KeyPolicy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchPublishesAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            },
        ],
    }


def test_external_ids_are_hidden_and_job_records_expire_after_the_retention(
    template: dict[str, Any],
) -> None:
    parameters = template["Parameters"]
    external_ids, retention = parameters["RoleExternalIds"], parameters["JobRetentionDays"]
    assert (external_ids["NoEcho"], external_ids["Default"]) == (True, "{}")
    limits = [retention[k] for k in ("Type", "Default", "MinValue", "MaxValue")]
    assert limits == ["Number", 90, 1, 3650]
    table = Stack(template).properties("JobTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_template_as_sent_means_the_same_and_fits_in_a_template_body() -> None:
    # GIVEN the template file, and the body deploy sends (its comment lines left out)
    body = template_body(TEMPLATE)
    sent, problems = decode_str(body)
    # THEN CloudFormation reads the same template, within its inline size limit
    assert not problems
    assert sent == decoded_template()
    assert not [line for line in body.splitlines() if line.lstrip().startswith("#")]
    assert len(body.encode()) <= MAX_TEMPLATE_BODY_BYTES
    # AND the file itself fits too: `aws cloudformation deploy --template-file` sends it whole
    assert len(TEMPLATE.read_bytes()) <= MAX_TEMPLATE_BODY_BYTES
