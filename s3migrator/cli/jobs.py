"""Job commands: ``schema``, ``submit``, ``report`` and ``redrive``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from coordinator.completion_report import write_csv
from coordinator.redrive import redrive
from progress.deadletters import sweep_dead_letters
from s3migrator.cli.dry_run import dry_run
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.migration_options import add_migration_options, migration_fields
from s3migrator.cli.selection_options import add_selection_options, copy_options, selection_fields
from s3migrator.cli.watch import add_follow_options, watch
from s3migrator.errors import JobNotFoundError, UsageError
from s3migrator.models import JobMessage, Location, Mode, Overwrite, explain, split_s3_url
from s3migrator.sqs.queues import send_job

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands
    from s3migrator.jobstore import JobStore
    from s3migrator.resources import Resources
    from s3migrator.settings import Settings

URL = "s3://BUCKET[/PREFIX]"


def add_side_options(parser: argparse.ArgumentParser) -> None:
    """How to reach each side of a job: region, role to assume, KMS key for new objects."""
    sides = parser.add_argument_group("reaching each side (default: the caller's credentials)")
    sides.add_argument("--source-region", metavar="REGION", help="the source bucket's region")
    sides.add_argument("--dest-region", metavar="REGION", help="the destination's region")
    sides.add_argument("--source-role", metavar="ARN", help="role assumed to list the source")
    sides.add_argument(
        "--dest-role",
        metavar="ARN",
        help="role assumed to create the destination and copy into it (it reads the source)",
    )
    sides.add_argument(
        "--source-account",
        metavar="ID",
        help="account that must own the source bucket (default: --source-role's, or the stack's)",
    )
    sides.add_argument(
        "--dest-account",
        metavar="ID",
        help="account that must own the destination (default: --dest-role's, or the stack's)",
    )
    sides.add_argument("--dest-kms-key", metavar="ARN", help="SSE-KMS key ARN for the new objects")


def _side(option: str, url: str, **fields: str | None) -> dict[str, str]:
    """One side of a job as the message carries it: bucket, prefix and the fields given."""
    try:
        bucket, prefix = split_s3_url(url)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from exc
    return {"bucket": bucket, "prefix": prefix, **{k: v for k, v in fields.items() if v}}


def location_option(option: str, url: str, **fields: str | None) -> Location:
    """The bucket and prefix an option names, or a one-line usage error saying why not."""
    try:
        return Location.model_validate(_side(option, url, **fields))
    except ValidationError as exc:
        raise UsageError(f"{option}: {explain(exc)}") from exc


def job_from_args(args: argparse.Namespace) -> JobMessage:
    """The job message the options describe, validated as the coordinator validates it."""
    options = {
        "multipart_threshold_bytes": getattr(args, "multipart_threshold", None),
        "part_size_bytes": getattr(args, "part_size", None),
        **copy_options(args),
    }
    message: dict[str, object] = {
        "job_id": getattr(args, "job_id", None),
        "mode": getattr(args, "mode", Mode.COPY.value),
        "source": _side(
            "--source",
            args.source,
            region=args.source_region,
            role_arn=args.source_role,
            account_id=args.source_account,
        ),
        "destination": _side(
            "--dest",
            args.dest,
            region=args.dest_region,
            role_arn=args.dest_role,
            account_id=args.dest_account,
            kms_key_id=args.dest_kms_key,
        ),
        "options": {k: v for k, v in options.items() if v is not None},
        **selection_fields(args),
        **migration_fields(args),
    }
    if getattr(args, "overwrite", None):
        message["overwrite"] = args.overwrite
    if getattr(args, "report", None):
        report = _side("--report", args.report)
        message["report"] = report if report["prefix"] else {"bucket": report["bucket"]}
    try:
        return JobMessage.model_validate(message)
    except ValidationError as exc:
        raise UsageError(f"invalid job: {explain(exc)}") from exc


def submit_warnings(store: JobStore, job: JobMessage) -> list[str]:
    """What a user should know before sending: a reused id, another job into the same place."""
    warnings = []
    if job.job_id is not None and (existing := store.get_job(job.job_id)) is not None:
        warnings.append(
            f"job {job.job_id} already exists ({existing.state.value}); sending its id again"
            " starts nothing new"
        )
    dst = job.destination
    for other in store.list_jobs():
        if other.job_id == job.job_id or other.state.is_final or other.spec is None:
            continue
        theirs = other.spec.destination
        if theirs.bucket == dst.bucket and (
            theirs.prefix.startswith(dst.prefix) or dst.prefix.startswith(theirs.prefix)
        ):
            warnings.append(
                f"job {other.job_id} is running into {theirs.url} as well; the two jobs may"
                " overwrite each other's objects"
            )
    return warnings


def redrive_job(
    store: JobStore, sqs: SQSClient, resources: Resources, job_id: str, settings: Settings
) -> int:
    """What ``s3migrator redrive`` does: dead letters into failure records, then the redrive."""
    sweep_dead_letters(store, sqs, resources.work_dlq_url, resources.work_queue_url)
    return redrive(store, sqs, resources.work_queue_url, job_id, settings)


def schema_command(context: Context) -> int:
    print(json.dumps(JobMessage.model_json_schema(), indent=2))
    return ExitCode.OK


def submit_command(context: Context) -> int:
    message = job_from_args(context.args)
    if context.args.dry_run:
        return dry_run(context, message)
    job = message.with_id()
    assert job.job_id is not None
    for warning in submit_warnings(context.store, job):
        context.warn(warning)
    send_job(context.aws.sqs(), context.resources.jobs_queue_url, job)
    print(job.job_id, flush=True)
    if context.args.wait:
        return watch(context, [job.job_id], interval_s=context.args.interval)
    return ExitCode.OK


def report_command(context: Context) -> int:
    args, store = context.args, context.store
    record = store.get_job(args.job_id)
    if record is None:
        raise JobNotFoundError(args.job_id)
    failures = store.batches.failures(args.job_id)
    if args.csv is not None:
        if str(args.csv) == "-":
            write_csv(sys.stdout, record, failures)
            return ExitCode.OK
        try:
            with args.csv.open("w", newline="") as out:
                rows = write_csv(out, record, failures)
        except OSError as exc:
            raise UsageError(f"cannot write {args.csv}: {exc.strerror}") from exc
        context.console.print(f"{rows} failed objects written to {escape(str(args.csv))}")
        return ExitCode.OK
    counters = record.counters
    context.console.print(
        f"job {record.job_id}: {record.state.value}, {counters.objects_copied} copied,"
        f" {counters.objects_failed} failed of {record.listing.objects} listed",
        highlight=False,
    )
    if record.error:
        context.console.print(f"[red]{escape(record.error)}[/]")
    table = Table(title="failed objects")
    for column in ("key", "code", "HTTP", "attempts", "message"):
        table.add_column(column, overflow="fold")
    for f in failures:
        table.add_row(
            escape(f.key), f.code, str(f.http_status or ""), str(f.attempts), escape(f.message)
        )
    if table.row_count:
        context.console.print(table)
    else:
        context.console.print("no failed objects")
    return ExitCode.OK


def redrive_command(context: Context) -> int:
    args = context.args
    sent = redrive_job(
        context.store, context.aws.sqs(), context.resources, args.job_id, context.settings
    )
    context.console.print(f"job {args.job_id}: {sent} objects sent back to work", highlight=False)
    if args.wait:
        return watch(context, [args.job_id], interval_s=args.interval)
    return ExitCode.OK


def register(commands: Commands) -> None:
    commands.add(
        "schema",
        help="print the job message's JSON Schema",
        description="The JSON Schema of a job message: what any SQS client may send.",
        examples=["s3migrator schema > job-schema.json"],
        handler=schema_command,
    )
    submit = commands.add(
        "submit",
        help="send a job message; prints the job id",
        description=(
            "Send a job message to the stack's jobs queue, exactly as any SQS client could, and\n"
            "print the job's id. The job is checked as the coordinator checks it first, and you\n"
            "are warned when the id is taken or another running job writes to the same place."
        ),
        examples=[
            "s3migrator submit --source s3://old-bucket --dest s3://new-bucket --wait",
            "s3migrator submit --source s3://logs/2024/ --dest s3://archive/logs/"
            " --job-id logs-2024",
            "s3migrator submit --mode migrate --source s3://photos --dest s3://photos"
            " --dest-role arn:aws:iam::222222222222:role/migrator --yes-delete-source",
        ],
        handler=submit_command,
    )
    submit.add_argument("--source", required=True, metavar=URL, help="what to copy")
    submit.add_argument("--dest", required=True, metavar=URL, help="where to copy it")
    submit.add_argument(
        "--mode", default=Mode.COPY.value, choices=[m.value for m in Mode], help="what to do"
    )
    submit.add_argument(
        "--job-id", metavar="ID", help="your id for the job (sending it twice starts one job)"
    )
    add_side_options(submit)
    add_selection_options(submit)
    add_migration_options(submit)
    submit.add_argument(
        "--multipart-threshold",
        type=int,
        metavar="BYTES",
        help="copy objects this large in parts (default: the copier's, 5 GiB - 1 MiB)",
    )
    submit.add_argument(
        "--part-size",
        type=int,
        metavar="BYTES",
        help="part size of multipart copies (default: the copier's, 256 MiB)",
    )
    submit.add_argument(
        "--report",
        metavar=URL,
        help="write the completion report (failed objects, CSV) here when the job ends; a"
        " bucket in the destination's account, written by the destination's side",
    )
    submit.add_argument(
        "--overwrite",
        choices=[o.value for o in Overwrite],
        help="what to do with a destination key that exists: never replace it (the default;"
        " it is reported as DestinationExists), replace it if-different, or always",
    )
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="list what the job would copy, skip and delete, with counts and bytes, and send"
        " nothing (both sides are listed with your credentials, or the roles the job names)",
    )
    add_follow_options(submit, "--wait")

    report = commands.add(
        "report",
        help="a job's failed objects, with their reasons",
        description=(
            "Every object of the job that could not be copied: key, error code, HTTP status,\n"
            "attempts and message. --csv writes S3 Batch Operations' report columns."
        ),
        examples=["s3migrator report JOB_ID", "s3migrator report JOB_ID --csv failures.csv"],
        handler=report_command,
    )
    report.add_argument("job_id", metavar="JOB_ID", help="the job whose failures to list")
    report.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write the report as CSV (Bucket, Key, VersionId, TaskStatus, ErrorCode,"
        " HTTPStatusCode, ResultMessage); - for stdout",
    )

    redrive_parser = commands.add(
        "redrive",
        help="send a job's failed and dead-lettered objects back to work",
        description=(
            "Once the cause of a job's failures is fixed, send its failed objects (dead-lettered\n"
            "ones included) back to the copiers. Only a job that completed with failures can be\n"
            "redriven; each object copied now moves from failed to copied."
        ),
        examples=["s3migrator redrive JOB_ID --wait"],
        handler=redrive_command,
    )
    redrive_parser.add_argument("job_id", metavar="JOB_ID", help="the job to redrive")
    add_follow_options(redrive_parser, "--wait")
