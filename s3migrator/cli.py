"""The ``s3migrator`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from s3migrator.errors import S3MigratorError
from s3migrator.models import JobMessage, Mode
from s3migrator.settings import Settings

log = logging.getLogger("s3migrator")


def _add_common(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument("--stack", default=default, help="stack name (default: s3migrator)")
    parser.add_argument("--profile", default=default, help="AWS profile to use")
    parser.add_argument("--region", default=default, help="AWS region (default: from config)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default or False, help="debug logging"
    )


def add_side_options(parser: argparse.ArgumentParser) -> None:
    """How to reach each side of a job: region, role to assume, KMS key for new objects."""
    parser.add_argument("--source-region", default=None, help="the source bucket's region")
    parser.add_argument("--dest-region", default=None, help="the destination bucket's region")
    parser.add_argument(
        "--source-role", default=None, metavar="ARN", help="role assumed to list the source"
    )
    parser.add_argument(
        "--dest-role",
        default=None,
        metavar="ARN",
        help="role assumed to create the destination and copy into it (reads the source)",
    )
    parser.add_argument("--source-external-id", default=None, metavar="ID")
    parser.add_argument("--dest-external-id", default=None, metavar="ID")
    parser.add_argument(
        "--dest-kms-key", default=None, metavar="KEY", help="SSE-KMS key for the new objects"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3migrator",
        description=(
            "Copy S3 buckets between accounts and regions as a distributed job: a coordinator "
            "lists the source into SQS, copier tasks copy server-side, DynamoDB counts exactly."
        ),
        epilog=(
            "AWS configuration is standard: AWS_PROFILE/--profile, AWS_REGION/--region, "
            "AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> for local endpoints."
        ),
    )
    _add_common(parser)
    # The same options are accepted after the command too (`s3migrator deploy --stack NAME`).
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = commands.add_parser

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, parents=[common], **kwargs)

    commands.add_parser = add_command  # type: ignore[method-assign]

    commands.add_parser("schema", help="print the job message's JSON Schema")

    submit = commands.add_parser("submit", help="send a job message; prints the job id")
    submit.add_argument("--source", required=True, metavar="s3://BUCKET[/PREFIX]")
    submit.add_argument("--dest", required=True, metavar="s3://BUCKET[/PREFIX]")
    submit.add_argument("--mode", default="copy", choices=[m.value for m in Mode])
    submit.add_argument("--job-id", default=None, help="client-chosen id (idempotent)")
    add_side_options(submit)
    submit.add_argument("--multipart-threshold", type=int, default=None, metavar="BYTES")
    submit.add_argument("--part-size", type=int, default=None, metavar="BYTES")
    submit.add_argument(
        "--report",
        default=None,
        metavar="s3://BUCKET[/PREFIX]",
        help="write the completion report (failed objects, CSV) here when the job ends",
    )
    submit.add_argument("--wait", action="store_true", help="watch the job until it ends")

    coordinator = commands.add_parser(
        "coordinator", help="run the coordinator (long-polls the jobs queue)"
    )
    coordinator.add_argument(
        "--once", action="store_true", help="exit when the jobs queue is empty"
    )
    copier = commands.add_parser("copier", help="run a copier (long-polls the work queue)")
    copier.add_argument(
        "--exit-when-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long without work (default: run until SIGTERM)",
    )

    status = commands.add_parser("status", help="progress of one job, or of every job")
    status.add_argument("job_id", nargs="?", default=None)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--watch", action="store_true", help="refresh until the job(s) end")
    status.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")

    progress = commands.add_parser(
        "progress", help="run the progress function once (as the scheduled Lambda does)"
    )
    progress.add_argument(
        "--every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run repeatedly at this interval",
    )

    report = commands.add_parser("report", help="a job's failed objects, with their reasons")
    report.add_argument("job_id")
    report.add_argument(
        "--csv",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the completion report as CSV (S3 Batch Operations columns); - for stdout",
    )

    redrive = commands.add_parser(
        "redrive", help="send a job's failed and dead-lettered objects back to work"
    )
    redrive.add_argument("job_id")
    redrive.add_argument("--wait", action="store_true", help="watch the job until it ends")

    check = commands.add_parser(
        "check", help="try the access a job will need and print what works and what is missing"
    )
    check.add_argument(
        "job_file",
        nargs="?",
        type=Path,
        default=None,
        metavar="JOB_FILE",
        help="a job message (JSON); or give --source and --dest",
    )
    check.add_argument("--source", default=None, metavar="s3://BUCKET[/PREFIX]")
    check.add_argument("--dest", default=None, metavar="s3://BUCKET[/PREFIX]")
    add_side_options(check)

    grant = commands.add_parser(
        "grant",
        help="the source bucket policy statements that let the copying role read the source",
        description=(
            "Prints the statements (scoped to one role, one bucket and prefix, read-only"
            " actions); --apply merges them into the source bucket's policy, keeping every other"
            " statement; --revoke removes only them."
        ),
    )
    grant.add_argument("--job", default=None, metavar="JOB_ID", help="take everything from a job")
    grant.add_argument("--source", default=None, metavar="s3://BUCKET[/PREFIX]")
    grant.add_argument(
        "--reader-role", default=None, metavar="ARN", help="the role that copies (destination)"
    )
    grant.add_argument(
        "--source-role",
        default=None,
        metavar="ARN",
        help="role assumed to edit the source bucket's policy (default: your credentials)",
    )
    action = grant.add_mutually_exclusive_group()
    action.add_argument("--apply", action="store_true", help="merge into the bucket policy")
    action.add_argument("--revoke", action="store_true", help="remove our statements only")

    destroy = commands.add_parser("destroy", help="delete the stack (refused while jobs run)")
    destroy.add_argument("--force", action="store_true", help="delete even while jobs run")

    deploy = commands.add_parser("deploy", help="create or update the stack")
    deploy.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")

    verify = commands.add_parser("verify", help="compare a destination with its source")
    verify.add_argument("source", metavar="s3://BUCKET[/PREFIX]")
    verify.add_argument("dest", metavar="s3://BUCKET[/PREFIX]")
    verify.add_argument("--no-content", action="store_true", help="compare keys and sizes only")

    demo = commands.add_parser("demo", help="run a copy job end to end on the embedded stack")
    demo.add_argument("--objects", type=int, default=1000, help="objects to copy (default 1000)")
    demo.add_argument("--workers", type=int, default=3, help="most copier processes (default 3)")
    demo.add_argument("--logs", type=Path, default=None, help="folder for process logs")

    local = commands.add_parser("local", help="the embedded stack (moto on loopback)")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="run the embedded stack in the foreground")
    up.add_argument("--port", type=int, default=5000)
    up.add_argument("--workers", type=int, default=3, help="most copier processes")
    up.add_argument("--logs", type=Path, default=None, help="folder for process logs")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if args.stack:
        settings = settings.model_copy(update={"stack_name": args.stack})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    try:
        return _run(args)
    except S3MigratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from s3migrator import access, commands

    settings = _settings(args)
    console = Console(stderr=False)
    match args.command:
        case "schema":
            print(json.dumps(JobMessage.model_json_schema(), indent=2))
            return 0
        case "submit":
            return commands.submit_command(args, settings, console)
        case "coordinator":
            from s3migrator.processes import run_coordinator

            return run_coordinator(settings, profile=args.profile, once=args.once)
        case "copier":
            from s3migrator.processes import run_copier

            if args.exit_when_idle is not None:
                settings = settings.model_copy(update={"idle_exit_s": args.exit_when_idle})
            return run_copier(settings, profile=args.profile)
        case "status":
            return commands.status_command(args, settings, console)
        case "progress":
            return commands.progress_command(args, settings, console)
        case "report":
            return commands.report_command(args, settings, console)
        case "redrive":
            return commands.redrive_command(args, settings, console)
        case "check":
            return access.check_command(args, settings, console)
        case "grant":
            return access.grant_command(args, settings, console)
        case "destroy":
            return commands.destroy_command(args, settings, console)
        case "deploy":
            return commands.deploy_command(args, settings, console)
        case "verify":
            return commands.verify_command(args, settings, console)
        case "demo":
            from s3migrator.local.demo import run_demo

            started = time.monotonic()
            code = run_demo(
                objects=args.objects,
                workers=args.workers,
                console=console,
                stack_name=settings.stack_name,
                log_dir=args.logs,
            )
            console.print(f"demo finished in {time.monotonic() - started:.1f}s, exit {code}")
            return code
        case "local":
            from s3migrator.local.up import run_up

            return run_up(
                port=args.port,
                workers=args.workers,
                stack_name=settings.stack_name,
                console=console,
                log_dir=args.logs,
            )
    raise AssertionError(args.command)


__all__ = ["main"]
