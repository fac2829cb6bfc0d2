"""The ``cancel`` and ``resume`` commands of a same-name migration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.watch import add_follow_options, watch
from s3migrator.migration_control import cancel_migration, resume_migration

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


def cancel_command(context: Context) -> int:
    args = context.args
    cancel_migration(
        context.store, context.aws.sqs(), context.resources.jobs_queue_url, args.job_id
    )
    context.console.print(
        f"migration {args.job_id}: asked to stop at its next safe point; `s3migrator status"
        f" {args.job_id}` says where it stopped and what each bucket holds",
        highlight=False,
    )
    return ExitCode.OK


def resume_command(context: Context) -> int:
    args = context.args
    phase = resume_migration(
        context.store,
        context.aws.sqs(),
        context.resources.jobs_queue_url,
        args.job_id,
        confirm_delete_source=args.yes_delete_source,
        name_wait_h=args.name_wait_hours,
    )
    context.console.print(f"migration {args.job_id}: resumed at {phase.value}", highlight=False)
    if args.wait:
        return watch(context, [args.job_id], interval_s=args.interval)
    return ExitCode.OK


def register(commands: Commands) -> None:
    cancel = commands.add(
        "cancel",
        help="stop a running migration at its next safe point",
        description=(
            "Ask a migration to stop at its next safe point: any step but the source's\n"
            "deletion, which ends first. Its status then says what each bucket holds; a copy\n"
            "step already running goes on to its end. `s3migrator resume` takes it up again."
        ),
        examples=["s3migrator cancel JOB_ID"],
        handler=cancel_command,
    )
    cancel.add_argument("job_id", metavar="JOB_ID", help="the migration to stop")
    resume = commands.add(
        "resume",
        help="take a stopped migration up again where it stopped",
        description=(
            "Resume a migration that stopped: at a gate (--yes-delete-source confirms the\n"
            "source's deletion), when the name was not free by its deadline (it waits anew,\n"
            "--name-wait-hours long), after a difference or objects written meanwhile (the\n"
            "first copy runs again as a sync), after a failed copy step (redrive it first), or\n"
            "after a cancel."
        ),
        examples=[
            "s3migrator resume JOB_ID --yes-delete-source --wait",
            "s3migrator resume JOB_ID --name-wait-hours 24",
        ],
        handler=resume_command,
    )
    resume.add_argument("job_id", metavar="JOB_ID", help="the migration to resume")
    resume.add_argument(
        "--yes-delete-source",
        action="store_true",
        help="let it delete the source once its copy is verified",
    )
    resume.add_argument(
        "--name-wait-hours", type=float, metavar="H", help="wait this long for the name from now"
    )
    add_follow_options(resume, "--wait")
