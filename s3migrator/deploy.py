"""Create or update the stack on whatever endpoint boto3 resolves (AWS or a local one)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, WaiterError

from s3migrator.errors import ConfigurationError

if TYPE_CHECKING:
    from s3migrator.aws import Aws

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


def template_body(path: Path | None = None) -> str:
    path = path or TEMPLATE
    if not path.is_file():
        raise ConfigurationError(f"template not found at {path}")
    return path.read_text()


def deploy(
    aws: Aws,
    stack_name: str,
    *,
    parameters: dict[str, str] | None = None,
    template: Path | None = None,
) -> dict[str, str]:
    """Create the stack, or update it in place; returns its outputs.

    Uses CreateStack/UpdateStack: local endpoints fill outputs for those but not for executed
    change sets, and both behave the same on AWS.
    """
    cfn = aws.cloudformation()
    body = template_body(template)
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()]
    try:
        cfn.describe_stacks(StackName=stack_name)
        exists = True
    except ClientError:
        exists = False
    try:
        if exists:
            try:
                cfn.update_stack(
                    StackName=stack_name,
                    TemplateBody=body,
                    Parameters=params,  # type: ignore[arg-type]
                    Capabilities=["CAPABILITY_IAM"],
                )
            except ClientError as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
                log.info("stack %s is up to date", stack_name)
            else:
                cfn.get_waiter("stack_update_complete").wait(
                    StackName=stack_name, WaiterConfig={"Delay": 2, "MaxAttempts": 900}
                )
        else:
            cfn.create_stack(
                StackName=stack_name,
                TemplateBody=body,
                Parameters=params,  # type: ignore[arg-type]
                Capabilities=["CAPABILITY_IAM"],
            )
            cfn.get_waiter("stack_create_complete").wait(
                StackName=stack_name, WaiterConfig={"Delay": 2, "MaxAttempts": 900}
            )
    except WaiterError as exc:
        raise ConfigurationError(f"stack {stack_name} did not deploy: {exc}") from exc
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
