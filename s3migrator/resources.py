"""Where the stack's queues and table are: from settings (Fargate tasks) or the stack's outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from s3migrator.errors import ConfigurationError

if TYPE_CHECKING:
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


def stack_outputs(aws: Aws, stack_name: str) -> dict[str, str]:
    cfn = aws.cloudformation()
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        raise ConfigurationError(
            f"stack {stack_name!r} not found ({exc}); run `s3migrator deploy --stack {stack_name}`"
        ) from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


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
