"""Task commands: the long-running ``coordinator`` and ``copier`` processes (Fargate tasks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.cli.local.orphans import exit_with_parent
from s3migrator.cli.values import seconds

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


def coordinator_command(context: Context) -> int:
    from coordinator import process

    exit_with_parent()
    return process.run(context.settings, profile=context.args.profile, once=context.args.once)


def copier_command(context: Context) -> int:
    from copier import process

    exit_with_parent()
    settings = context.settings
    if context.args.exit_when_idle is not None:
        settings = settings.model_copy(update={"idle_exit_s": context.args.exit_when_idle})
    return process.run(settings, profile=context.args.profile)


def register(commands: Commands) -> None:
    coordinator = commands.add(
        "coordinator",
        help="run the coordinator (long-polls the jobs queue)",
        description=(
            "The coordinator task: takes job messages, checks access, creates the destination\n"
            "and lists the source into work batches, checkpointing in DynamoDB. Runs until\n"
            "SIGTERM. Settings come from S3MIGRATOR_* variables (see README)."
        ),
        examples=["s3migrator coordinator", "s3migrator coordinator --once"],
        handler=coordinator_command,
        logs=True,
    )
    coordinator.add_argument(
        "--once", action="store_true", help="exit when the jobs queue is empty and jobs are listed"
    )
    copier = commands.add(
        "copier",
        help="run a copier (long-polls the work queue)",
        description=(
            "A copier task: takes work batches and copies every object server-side, counting\n"
            "each batch once. On SIGTERM it finishes or releases what it holds, then exits 0."
        ),
        examples=["s3migrator copier", "s3migrator copier --exit-when-idle 30"],
        handler=copier_command,
        logs=True,
    )
    copier.add_argument(
        "--exit-when-idle",
        type=seconds,
        metavar="SECONDS",
        help="exit after this long without work (default: run until SIGTERM)",
    )
