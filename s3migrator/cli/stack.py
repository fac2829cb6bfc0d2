"""Stack commands: ``deploy``, ``destroy`` and ``outputs``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.table import Table

from s3migrator.cli.deployment import deploy, destroy, security_parameters
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.errors import UsageError
from s3migrator.models import JobState
from s3migrator.resources import stack_outputs

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands

# The parameters with an option of their own, which checks them before anything is deployed.
OWN_OPTIONS = {
    "JobSubmitters": "--job-submitters",
    "AllowedAccounts": "--allowed-accounts",
    "RoleExternalIds": "--role-external-ids",
    "JobRetentionDays": "--job-retention-days",
}


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not (key and equals):
            raise UsageError(f"--parameter takes KEY=VALUE, got {pair!r}")
        parameters[key] = value
    return parameters


def deploy_command(context: Context) -> int:
    name = context.settings.stack_name
    args = context.args
    parameters = _parameters(args.parameter)
    clashes = sorted(OWN_OPTIONS.keys() & parameters.keys())
    if clashes:
        raise UsageError(f"set {clashes[0]} with {OWN_OPTIONS[clashes[0]]}, not --parameter")
    parameters |= security_parameters(
        context.aws,
        job_submitters=args.job_submitters,
        allowed_accounts=args.allowed_accounts,
        role_external_ids=args.role_external_ids,
        job_retention_days=args.job_retention_days,
    )
    deployment = deploy(context.aws, name, parameters=parameters)
    console = context.console
    if not deployment.changes and not deployment.created:
        console.print(f"stack {name} is up to date")
    else:
        verb = "created" if deployment.created else "updated"
        console.print(f"stack {name} {verb} ({context.aws.region}):")
        for change in deployment.changes:
            replacing = " (replaced)" if change.replacement == "True" else ""
            console.print(
                f"  {change.action:<6} {change.logical_id} {change.resource_type}{replacing}",
                highlight=False,
            )
    submitters = parameters["JobSubmitters"].replace(",", ", ") or "the stack's own roles only"
    console.print(f"job messages accepted from: {submitters}", highlight=False)
    table = Table(title=f"stack {name} outputs")
    table.add_column("output", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in sorted(deployment.outputs.items()):
        table.add_row(key, value)
    console.print(table)
    return ExitCode.OK


def destroy_command(context: Context) -> int:
    name = context.settings.stack_name
    running = [job.job_id for job in context.store.list_jobs() if job.state is JobState.RUNNING]
    if running and not context.args.force:
        context.errors.print(
            f"refusing: {len(running)} jobs still run ({', '.join(running[:5])});"
            " wait for them or pass --force",
            highlight=False,
        )
        return ExitCode.FAILED
    destroy(context.aws, name)
    context.console.print(f"stack {name} deleted")
    return ExitCode.OK


def outputs_command(context: Context) -> int:
    outputs = stack_outputs(context.aws, context.settings.stack_name)
    name = context.args.name
    if name is not None:
        if name not in outputs:
            raise UsageError(
                f"the stack has no output {name!r}; it has {', '.join(sorted(outputs))}"
            )
        print(json.dumps({name: outputs[name]}) if context.args.json else outputs[name])
    elif context.args.json:
        print(json.dumps(dict(sorted(outputs.items())), indent=2))
    else:
        for key, value in sorted(outputs.items()):
            print(f"{key}={value}")
    return ExitCode.OK


def register(commands: Commands) -> None:
    deploy_parser = commands.add(
        "deploy",
        help="create or update the stack",
        description=(
            "Create or update the stack (queues, table, tasks, progress function, alarms)\n"
            "through a change set on whatever endpoint boto3 resolves; prints what it adds,\n"
            "modifies or removes, then the outputs. Without ContainerImage the stack holds only\n"
            "the queues, the table and the dead-letter alarms.\n"
            "Only --job-submitters may send job messages (by default the identity that deploys);\n"
            "jobs read and write only --allowed-accounts' buckets. Each deploy sets these anew:\n"
            "an option left out takes its default."
        ),
        examples=[
            "s3migrator deploy",
            "s3migrator deploy --parameter ContainerImage=REPO:1"
            " --parameter AlarmEmail=you@example.com",
            "s3migrator deploy --job-submitters arn:aws:iam::111122223333:role/ci-jobs"
            " --allowed-accounts 111122223333,444455556666",
            "s3migrator deploy --role-external-ids"
            ' \'{"arn:aws:iam::444455556666:role/s3migrator-source": "copy-2026"}\'',
        ],
        handler=deploy_command,
    )
    deploy_parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (repeat for more)",
    )
    deploy_parser.add_argument(
        "--job-submitters",
        metavar="ARN[,ARN...]",
        help='IAM role or user ARNs whose job messages are accepted; "" for none but the'
        " stack's own (default: the identity that deploys)",
    )
    deploy_parser.add_argument(
        "--allowed-accounts",
        metavar="ID[,ID...]",
        help="accounts whose buckets jobs may read and write and whose roles they may assume"
        " (default: the stack's account)",
    )
    deploy_parser.add_argument(
        "--role-external-ids",
        metavar="JSON",
        help='external ids of the roles jobs assume, {"ROLE ARN": "EXTERNAL ID"} (default: none)',
    )
    deploy_parser.add_argument(
        "--job-retention-days",
        type=int,
        metavar="N",
        help="days a job's record is kept after it ends, 1 to 3650 (default: 90)",
    )

    destroy_parser = commands.add(
        "destroy",
        help="delete the stack (refused while jobs run)",
        description="Delete the stack and everything in it; refused while a job runs.",
        examples=["s3migrator destroy", "s3migrator destroy --force"],
        handler=destroy_command,
    )
    destroy_parser.add_argument("--force", action="store_true", help="delete even while jobs run")

    outputs = commands.add(
        "outputs",
        help="the stack's queues, table and other outputs, for scripts",
        description=(
            "Print the stack's outputs as KEY=VALUE lines, one output's value alone, or JSON.\n"
            "Names: JobsQueueUrl, JobsDlqUrl, WorkQueueUrl, WorkDlqUrl, TableName and more."
        ),
        examples=[
            "s3migrator outputs",
            "s3migrator outputs --json",
            "QUEUE=$(s3migrator outputs JobsQueueUrl)",
        ],
        handler=outputs_command,
    )
    outputs.add_argument("name", nargs="?", metavar="NAME", help="print this output's value only")
    outputs.add_argument("--json", action="store_true", help="all outputs as one JSON object")
