"""The whole stack, with the container image, deploys and runs a job with only its own resources."""

from __future__ import annotations

from typing import Any

from copier_drain import drain
from moto_helpers import fill, job_message

from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.cli.deployment import deploy
from s3migrator.jobstore import JobStore
from s3migrator.resources import resolve
from s3migrator.settings import Settings

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/s3migrator:1"


def test_stack_with_image_creates_services_function_schedule_and_runs_a_job(
    aws: Aws, s3: Any, make_runner: Any, run_copier: Any, monkeypatch: Any
) -> None:
    # GIVEN the stack deployed with the container image
    deployment = deploy(aws, "full", parameters={"ContainerImage": IMAGE, "MaxCopiers": "7"})
    outputs = deployment.outputs
    assert {"ClusterName", "ProgressFunctionName", "AlarmTopicArn"} <= set(outputs)
    added = {c.logical_id for c in deployment.changes if c.action == "Add"}
    assert {"CopierService", "CoordinatorService", "ProgressFunction", "ProgressSchedule"} <= added

    # THEN the services run the image with the stack's resources in their environment
    ecs = aws.session.client("ecs", region_name=aws.region)
    services = ecs.list_services(cluster=outputs["ClusterName"])["serviceArns"]
    assert len(services) == 2
    described = ecs.describe_services(cluster=outputs["ClusterName"], services=services)
    assert all(s["desiredCount"] == 0 for s in described["services"])  # idle: nothing runs
    families = {}
    for service in described["services"]:
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        (container,) = task["taskDefinition"]["containerDefinitions"]
        families[container["name"]] = container
    assert set(families) == {"coordinator", "copier"}
    environment = {e["name"]: e["value"] for e in families["copier"]["environment"]}
    assert environment["S3MIGRATOR_WORK_QUEUE_URL"] == outputs["WorkQueueUrl"]
    assert environment["S3MIGRATOR_TABLE_NAME"] == outputs["TableName"]
    assert families["copier"]["image"] == IMAGE
    assert families["copier"]["command"] == ["copier"]
    # AND the progress function is the same image, scheduled every minute
    function = aws.session.client("lambda", region_name=aws.region).get_function(
        FunctionName=outputs["ProgressFunctionName"]
    )
    # (moto records every function as a zip package, so the image itself is not checked here)
    assert function["Configuration"]["FunctionName"] == outputs["ProgressFunctionName"]
    events = aws.session.client("events", region_name=aws.region)
    (rule,) = [r for r in events.list_rules()["Rules"] if r["Name"].startswith("full-")]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == function["Configuration"]["FunctionArn"]

    # WHEN a job runs with only the resources this stack created
    monkeypatch.setenv("S3MIGRATOR_STACK_NAME", "full")
    resources = resolve(aws, Settings())
    fill(s3, "src-bucket", {"a.txt": b"a", "b/c.txt": b"bc"})
    runner = make_runner()
    runner.store = JobStore(aws.dynamodb(), resources.table_name)
    runner.work_queue_url = resources.work_queue_url
    runner.run(job_message("on-full-stack"))
    store = runner.store
    drain(aws, resources, store)
    (status,) = refresh(store, aws.sqs(), resources, "on-full-stack")

    # THEN it succeeded
    assert status.state.value == "succeeded"
    assert status.objects_copied == 2
