"""Deploy the stack with a change set on whatever endpoint boto3 resolves (AWS or a local one).

The change set's summary (what is added, modified, removed, and whether a replacement happens)
is returned for the CLI to print before it is executed; ``aws cloudformation deploy`` with the
same template does the same.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from s3migrator.aws_errors import PROVIDER_ERRORS, empty_change_set, translate
from s3migrator.errors import ConfigurationError, NotFoundError, S3MigratorError
from s3migrator.resources import stack_outputs

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import WaiterConfigTypeDef

    from s3migrator.aws import Aws

log = logging.getLogger(__name__)
# The template ships inside the package (``infra/`` is installed as ``s3migrator.infra``), so an
# installed s3migrator deploys without its source tree.
TEMPLATE_PACKAGE = "s3migrator.infra"
TEMPLATE_NAME = "template.yaml"
WAIT: WaiterConfigTypeDef = {"Delay": 2, "MaxAttempts": 900}


@dataclass(frozen=True)
class Change:
    action: str  # Add, Modify, Remove
    logical_id: str
    resource_type: str
    replacement: str = ""


@dataclass
class Deployment:
    stack_name: str
    created: bool
    changes: list[Change] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def template_body(path: Path | None = None) -> str:
    """The stack template: the installed one, or the file at ``path``."""
    if path is not None:
        if not path.is_file():
            raise ConfigurationError(f"template not found at {path}")
        return path.read_text()
    try:
        return resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_NAME).read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ConfigurationError(
            f"the stack template ({TEMPLATE_PACKAGE}/{TEMPLATE_NAME}) is not installed; reinstall"
            " s3migrator"
        ) from exc


def _exists(cfn: CloudFormationClient, stack_name: str) -> bool:
    try:
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except PROVIDER_ERRORS as exc:
        error = translate(exc)
        if isinstance(error, NotFoundError):
            return False
        raise error from exc
    # A stack whose creation was rolled back cannot be updated; it must be deleted first.
    if status == "ROLLBACK_COMPLETE":
        raise S3MigratorError(
            f"stack {stack_name} failed to create earlier; run `s3migrator destroy` first"
        )
    return status != "REVIEW_IN_PROGRESS"


def deploy(
    aws: Aws,
    stack_name: str,
    *,
    parameters: dict[str, str] | None = None,
    template: Path | None = None,
) -> Deployment:
    """Create or update the stack through a change set; returns its changes and outputs."""
    cfn = aws.cloudformation()
    exists = _exists(cfn, stack_name)
    name = f"s3migrator-{int(time.time())}"
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=template_body(template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=name, WaiterConfig=WAIT
        )
    except PROVIDER_ERRORS as exc:
        described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        reason = described.get("StatusReason", "")
        if empty_change_set(reason):
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return Deployment(stack_name, created=False, outputs=stack_outputs(aws, stack_name))
        raise S3MigratorError(f"change set for {stack_name} failed: {reason}") from exc
    described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
    changes = [
        Change(
            action=str(change["ResourceChange"].get("Action", "")),
            logical_id=change["ResourceChange"].get("LogicalResourceId", ""),
            resource_type=change["ResourceChange"].get("ResourceType", ""),
            replacement=str(change["ResourceChange"].get("Replacement", "")),
        )
        for change in described.get("Changes", [])
        if "ResourceChange" in change
    ]
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    try:
        if exists:
            cfn.get_waiter("stack_update_complete").wait(StackName=stack_name, WaiterConfig=WAIT)
        else:
            cfn.get_waiter("stack_create_complete").wait(StackName=stack_name, WaiterConfig=WAIT)
    except PROVIDER_ERRORS as exc:
        raise S3MigratorError(f"stack {stack_name} did not deploy: {translate(exc)}") from exc
    return Deployment(stack_name, not exists, changes, stack_outputs(aws, stack_name))


def destroy(aws: Aws, stack_name: str) -> None:
    cfn = aws.cloudformation()
    cfn.delete_stack(StackName=stack_name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name, WaiterConfig=WAIT)
    except PROVIDER_ERRORS as exc:
        raise S3MigratorError(f"stack {stack_name} was not deleted: {translate(exc)}") from exc
