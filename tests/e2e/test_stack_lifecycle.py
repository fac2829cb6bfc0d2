"""The stack's life: the AWS CLI deploys the same template; destroy refuses while jobs run."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import REPO, Stack

pytestmark = pytest.mark.e2e


def test_aws_cloudformation_deploy_of_the_same_template_serves_the_commands(stack: Stack) -> None:
    # GIVEN the template deployed by the AWS CLI rather than by s3migrator
    deployed = stack.aws(
        "cloudformation",
        "deploy",
        "--template-file",
        str(REPO / "infra" / "template.yaml"),
        "--stack-name",
        "by-aws-cli",
        "--capabilities",
        "CAPABILITY_IAM",
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    # WHEN s3migrator is pointed at that stack
    listed = stack.cli("--stack", "by-aws-cli", "status", "--json")

    # THEN it finds the stack's queues and table
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_the_aws_cli_reads_the_outputs_of_a_stack_deployed_through_a_change_set(
    stack: Stack,
) -> None:
    # GIVEN the stack deployed by `s3migrator deploy` (a change set) on the embedded endpoint
    assert stack.cli("deploy").returncode == 0
    # WHEN the AWS CLI and `s3migrator outputs` are asked for the jobs queue
    described = stack.aws(
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "s3migrator",
        "--query",
        "Stacks[0].Outputs[?OutputKey=='JobsQueueUrl'].OutputValue",
        "--output",
        "text",
    )
    ours = stack.cli("outputs", "JobsQueueUrl")
    # THEN both give the same queue URL (not "None", as a change set's stack once did)
    assert described.returncode == 0, described.stderr
    assert described.stdout.strip() == ours.stdout.strip() == stack.resources().jobs_queue_url


def test_destroy_refuses_while_a_job_runs_and_forced_deletes_the_stack(stack: Stack) -> None:
    # GIVEN a deployed stack with a job recorded as running (no processes to finish it)
    first = stack.cli("deploy")
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout and "WorkQueue" in first.stdout
    again = stack.cli("deploy")
    assert "up to date" in again.stdout
    fill_source = stack.client("s3")
    fill_source.create_bucket(Bucket="busy-source")
    fill_source.put_object(Bucket="busy-source", Key="k", Body=b"v")
    submitted = stack.cli(
        "submit", "--source", "s3://busy-source", "--dest", "s3://busy-dest", "--job-id", "busy"
    )
    assert submitted.returncode == 0
    coordinator = stack.start("coordinator", "coordinator")
    store = stack.store()
    while (record := store.get_job("busy")) is None or not record.listing.complete:
        pass
    coordinator.terminate()
    coordinator.wait(timeout=30)

    # WHEN destroy is asked without, then with --force
    refused = stack.cli("destroy")
    forced = stack.cli("destroy", "--force")

    # THEN the first refuses naming the job, the second deletes the stack
    assert refused.returncode == 1
    assert "busy" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    stacks = stack.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == "s3migrator"} <= {
        "DELETE_COMPLETE"
    }
