"""Where the stack's queues and table are: from settings (Fargate tasks) or the stack's outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

    from s3migrator.aws import Aws
    from s3migrator.settings import Settings

# Stack output name -> field name. The template's Outputs section must name all of these.
OUTPUTS = {
    "JobsQueueUrl": "jobs_queue_url",
    "JobsDlqUrl": "jobs_dlq_url",
    "WorkQueueUrl": "work_queue_url",
    "WorkDlqUrl": "work_dlq_url",
    "TableName": "table_name",
}


class Resources(BaseModel):
    jobs_queue_url: str
    jobs_dlq_url: str
    work_queue_url: str
    work_dlq_url: str
    table_name: str

    def as_env(self) -> dict[str, str]:
        """The variables a task needs to find these resources without the stack."""
        return {f"S3MIGRATOR_{name.upper()}": value for name, value in self.model_dump().items()}


# Output name -> the logical id whose Ref gives the same value; used where an endpoint does not
# fill outputs (a local endpoint executing a change set).
OUTPUT_SOURCES = {
    "JobsQueueUrl": "JobsQueue",
    "JobsDlqUrl": "JobsDeadLetterQueue",
    "WorkQueueUrl": "WorkQueue",
    "WorkDlqUrl": "WorkDeadLetterQueue",
    "TableName": "JobTable",
    "ClusterName": "Cluster",
    "AlarmTopicArn": "AlarmTopic",
    "ProgressFunctionName": "ProgressFunction",
}


def stack_outputs(aws: Aws, stack_name: str) -> dict[str, str]:
    return outputs_of(aws.cloudformation(), stack_name)


def outputs_of(cfn: CloudFormationClient, stack_name: str) -> dict[str, str]:
    """The stack's outputs, completed from its resources where the endpoint left them out."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, NotFoundError):
            raise ConfigurationError(
                f"no stack {stack_name!r} here; deploy it with"
                f" `s3migrator deploy --stack {stack_name}` (or give --stack NAME)"
            ) from exc
        raise error from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if not all(name in outputs for name in OUTPUTS):
        with translated():
            described = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        physical = {
            r.get("LogicalResourceId", ""): r.get("PhysicalResourceId", "") for r in described
        }
        for output, logical_id in OUTPUT_SOURCES.items():
            if output not in outputs and physical.get(logical_id):
                outputs[output] = physical[logical_id]
    return outputs


def resolve(aws: Aws, settings: Settings) -> Resources:
    """Settings win; anything unset is read from the stack's outputs."""
    values = {field: getattr(settings, field) for field in OUTPUTS.values()}
    if any(v is None for v in values.values()):
        outputs = stack_outputs(aws, settings.stack_name)
        for output, field in OUTPUTS.items():
            if values[field] is None:
                values[field] = outputs.get(output)
    missing = [field for field, value in values.items() if not value]
    if missing:
        raise ConfigurationError(
            f"stack {settings.stack_name!r} lacks outputs for {', '.join(missing)}"
        )
    return Resources.model_validate(values)
