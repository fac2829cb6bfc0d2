"""The real CloudFormation template, deployed into moto."""

from __future__ import annotations

import json
from typing import Any

from s3migrator.aws import Aws
from s3migrator.cli.deployment import deploy
from s3migrator.jobstore import JOBS_INDEX
from s3migrator.resources import OUTPUTS, resolve
from s3migrator.settings import Settings


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
