"""Stack commands: ``deploy``, ``destroy`` and ``outputs``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.table import Table

from s3migrator.cli.deployment import deploy, destroy
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.errors import UsageError
from s3migrator.models import JobState
from s3migrator.resources import stack_outputs

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


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
    deployment = deploy(context.aws, name, parameters=_parameters(context.args.parameter))
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
            "the queues, the table and the dead-letter alarms."
        ),
        examples=[
            "s3migrator deploy",
            "s3migrator deploy --parameter ContainerImage=REPO:1"
            " --parameter AlarmEmail=you@example.com",
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
