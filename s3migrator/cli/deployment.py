"""Deploy the stack with a change set on whatever endpoint boto3 resolves (AWS or a local one).

The change set's summary (what is added, modified, removed, and whether a replacement happens)
is returned for the CLI to print before it is executed; ``aws cloudformation deploy`` with the
same template does the same.

Who may start a job and what a job may touch are stack parameters too; ``security_parameters``
checks the deploy options that set them, and names the deploying identity as the one job
submitter when no other is named.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, empty_change_set, translate, translated
from s3migrator.errors import ConfigurationError, NotFoundError, S3MigratorError, UsageError
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
# What the template's parameters accept (their AllowedPattern and range), checked before a
# change set is made so that a typo is a usage error, not a failed deployment.
SUBMITTER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
ACCOUNT_ID = re.compile(r"\d{12}")
# STS's own constraint on an external id.
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
RETENTION_DAYS = range(1, 3651)


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


# CloudFormation takes a template body of at most this many bytes (a larger one must be
# uploaded to S3 first).
MAX_TEMPLATE_BODY_BYTES = 51_200
_COMMENT_LINE = re.compile(r"^[ \t]*#.*\n", re.MULTILINE)


def compact(template: str) -> str:
    """The template as sent: without its comment lines, which explain it to its readers only.

    Only whole-line comments go (the template holds no block scalar a ``#`` line could belong
    to), so what CloudFormation reads is unchanged.
    """
    return _COMMENT_LINE.sub("", template)


def template_body(path: Path | None = None) -> str:
    """The stack template as sent: the installed one, or the file at ``path``."""
    if path is not None:
        if not path.is_file():
            raise ConfigurationError(f"template not found at {path}")
        return compact(path.read_text())
    try:
        return compact(resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_NAME).read_text())
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


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_job_submitters(text: str) -> list[str]:
    """``ARN[,ARN...]``: IAM role or user ARNs, as a request's aws:PrincipalArn names them (a
    role's path included); an empty text names none."""
    submitters = _items(text)
    for arn in submitters:
        if not SUBMITTER_ARN.fullmatch(arn):
            raise UsageError(
                f"--job-submitters takes IAM role or user ARNs (arn:aws:iam::ACCOUNT:role/NAME),"
                f" got {arn!r}"
            )
    return submitters


def parse_allowed_accounts(text: str) -> list[str]:
    """``ID[,ID...]``: 12-digit account ids; an empty text means the stack's account alone."""
    accounts = _items(text)
    for account in accounts:
        if not ACCOUNT_ID.fullmatch(account):
            raise UsageError(f"--allowed-accounts takes 12-digit account ids, got {account!r}")
    return accounts


def parse_external_ids(text: str) -> dict[str, str]:
    """``{"ROLE ARN": "EXTERNAL ID"}``: the external id to present when assuming each role.

    Example: ``{"arn:aws:iam::111122223333:role/s3migrator-source": "copy-2026"}``
    """
    try:
        ids = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--role-external-ids is not JSON: {exc}") from exc
    if not isinstance(ids, dict):
        raise UsageError('--role-external-ids takes a JSON object {"ROLE ARN": "EXTERNAL ID"}')
    for role, external_id in ids.items():
        if not ROLE_ARN.fullmatch(role):
            raise UsageError(f"--role-external-ids: {role!r} is not an IAM role ARN")
        if not isinstance(external_id, str) or not EXTERNAL_ID.fullmatch(external_id):
            raise UsageError(
                f"--role-external-ids: the external id of {role} must be 2 to 1224 characters"
                " of letters, digits and +=,.@:/-_"
            )
    return dict(ids)


def deployer_arn(aws: Aws) -> str:
    """The IAM role or user ARN of the identity that deploys, as aws:PrincipalArn names it.

    An assumed-role session (``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``) stands for its
    role, whose ARN holds the role's path; iam:GetRole reads it, and where that fails the path
    is taken to be ``/``, with a warning.
    """
    sts = aws.session.client("sts", region_name=aws.region, config=aws.config())
    with translated():
        arn = sts.get_caller_identity()["Arn"]
    _, partition, _, _, account, resource = arn.split(":", 5)
    kind, _, rest = resource.partition("/")
    if kind == "user":
        # Users are named as IAM names them, path included (a local endpoint may say sts:).
        return f"arn:{partition}:iam::{account}:user/{rest}"
    if kind != "assumed-role":
        raise UsageError(
            f"the deploying identity {arn} is neither an IAM role nor a user; name who may"
            " submit jobs with --job-submitters"
        )
    name = rest.split("/")[0]
    # No IAM type stubs among the dependencies; the call is get_role alone.
    iam: Any = aws.session.client("iam", region_name=aws.region, config=aws.config())
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except PROVIDER_ERRORS as exc:
        guess = f"arn:{partition}:iam::{account}:role/{name}"
        log.warning(
            "cannot read role %s (%s), so its path is taken to be /: job submitter %s; if"
            " job messages are refused, pass --job-submitters with the role's ARN",
            name,
            translate(exc),
            guess,
        )
        return guess


def security_parameters(
    aws: Aws,
    *,
    job_submitters: str | None = None,
    allowed_accounts: str | None = None,
    role_external_ids: str | None = None,
    job_retention_days: int | None = None,
) -> dict[str, str]:
    """The stack parameters of the deploy options; the options not given are left to the
    template's defaults, but JobSubmitters, whose default is the deploying identity."""
    submitters = (
        [deployer_arn(aws)] if job_submitters is None else parse_job_submitters(job_submitters)
    )
    parameters = {"JobSubmitters": ",".join(submitters)}
    if allowed_accounts is not None:
        parameters["AllowedAccounts"] = ",".join(parse_allowed_accounts(allowed_accounts))
    if role_external_ids is not None:
        ids = parse_external_ids(role_external_ids)
        # One spelling for one mapping, so that deploying it again changes nothing.
        parameters["RoleExternalIds"] = json.dumps(ids, sort_keys=True, separators=(",", ":"))
    if job_retention_days is not None:
        if job_retention_days not in RETENTION_DAYS:
            raise UsageError(f"--job-retention-days takes 1 to 3650, got {job_retention_days}")
        parameters["JobRetentionDays"] = str(job_retention_days)
    return parameters


def destroy(aws: Aws, stack_name: str) -> None:
    cfn = aws.cloudformation()
    cfn.delete_stack(StackName=stack_name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack_name, WaiterConfig=WAIT)
    except PROVIDER_ERRORS as exc:
        raise S3MigratorError(f"stack {stack_name} was not deleted: {translate(exc)}") from exc
