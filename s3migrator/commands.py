"""The short-lived CLI commands: submit, status, progress, deploy, verify."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from progress.report import refresh
from s3migrator.aws import Aws, make_aws
from s3migrator.deploy import deploy, destroy
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobOptions, JobStatus, Location, Mode
from s3migrator.redrive import redrive
from s3migrator.report import write_csv
from s3migrator.resources import Resources, resolve
from s3migrator.submit import location, report_location, submit
from s3migrator.verify import verify

if TYPE_CHECKING:
    from rich.console import Console

    from s3migrator.settings import Settings


def _context(args: argparse.Namespace, settings: Settings) -> tuple[Aws, Resources]:
    aws = make_aws(args.profile)
    return aws, resolve(aws, settings)


def source_location(args: argparse.Namespace) -> Location:
    return location(
        args.source,
        region=args.source_region,
        role_arn=args.source_role,
        external_id=args.source_external_id,
    )


def destination_location(args: argparse.Namespace) -> Location:
    return location(
        args.dest,
        region=args.dest_region,
        role_arn=args.dest_role,
        external_id=args.dest_external_id,
        kms_key_id=args.dest_kms_key,
    )


def submit_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    try:
        message = JobMessage(
            job_id=args.job_id,
            mode=Mode(args.mode),
            source=source_location(args),
            destination=destination_location(args),
            options=JobOptions(
                multipart_threshold_bytes=args.multipart_threshold,
                part_size_bytes=args.part_size,
            ),
            report=report_location(args.report) if args.report else None,
        )
    except ValueError as exc:
        print(f"invalid job: {exc}", file=sys.stderr)
        return 2
    aws, resources = _context(args, settings)
    job = submit(aws.sqs(), resources.jobs_queue_url, message)
    print(job.job_id)
    if args.wait:
        assert job.job_id is not None
        return _watch(aws, resources, job.job_id, console, interval_s=2.0)
    return 0


def render(statuses: list[JobStatus]) -> Table:
    table = Table(title="s3migrator jobs")
    for column in (
        "job",
        "state",
        "phase",
        "%",
        "copied",
        "failed",
        "total",
        "MiB",
        "queue",
        "in flight",
        "dlq",
    ):
        table.add_column(
            column, justify="right" if column not in ("job", "state", "phase") else "left"
        )
    for s in statuses:
        table.add_row(
            s.job_id,
            s.state.value,
            s.phase.value,
            str(s.percent),
            str(s.objects_copied),
            str(s.objects_failed),
            str(s.objects_total) + ("" if s.enumeration_complete else "+"),
            f"{s.bytes_copied / 1024**2:.1f}",
            str(s.queue_visible),
            str(s.queue_in_flight),
            str(s.dlq_visible),
        )
    return table


def _details(console: Console, statuses: list[JobStatus]) -> None:
    for s in statuses:
        if s.error:
            console.print(f"[red]{s.job_id}: {escape(s.error)}[/]")
        for failure in s.first_failures:
            reason = escape(f"{failure.key!r}: {failure.code} {failure.message}")
            console.print(f"  {s.job_id} failed {reason}")


def _watch(
    aws: Aws, resources: Resources, job_id: str | None, console: Console, interval_s: float
) -> int:
    store = JobStore(aws.dynamodb(), resources.table_name)
    sqs = aws.sqs()
    with console.status("waiting for the job") if console.is_terminal else nullcontext():
        while True:
            statuses = refresh(store, sqs, resources, job_id, s3=aws.s3())
            if statuses and all(s.state.value != "running" for s in statuses):
                break
            time.sleep(interval_s)
    console.print(render(statuses))
    _details(console, statuses)
    return 0 if all(s.state.value == "succeeded" for s in statuses) else 1


def status_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws, resources = _context(args, settings)
    if args.watch and not args.json:
        return _watch(aws, resources, args.job_id, console, args.interval)
    store = JobStore(aws.dynamodb(), resources.table_name)
    sqs = aws.sqs()
    while True:
        statuses = refresh(store, sqs, resources, args.job_id, s3=aws.s3())
        if args.job_id and not statuses:
            print(f"no job {args.job_id!r}", file=sys.stderr)
            return 1
        if args.json:
            payload = (
                statuses[0].model_dump(mode="json")
                if args.job_id
                else [s.model_dump(mode="json") for s in statuses]
            )
            print(json.dumps(payload, indent=2))
        else:
            console.print(render(statuses))
            _details(console, statuses)
        if not args.watch or all(s.state.value != "running" for s in statuses):
            return 0
        time.sleep(args.interval)


def progress_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws, resources = _context(args, settings)
    store = JobStore(aws.dynamodb(), resources.table_name)
    sqs = aws.sqs()
    while True:
        statuses = refresh(store, sqs, resources, s3=aws.s3())
        console.print(
            f"progress: {len(statuses)} jobs, "
            f"{sum(s.state.value == 'running' for s in statuses)} running"
        )
        if args.every is None:
            return 0
        time.sleep(args.every)


def deploy_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws = make_aws(args.profile)
    parameters = dict(p.split("=", 1) for p in args.parameter)
    deployment = deploy(aws, settings.stack_name, parameters=parameters)
    verb = "created" if deployment.created else "updated"
    if not deployment.changes and not deployment.created:
        console.print(f"stack {settings.stack_name} is up to date")
    else:
        console.print(f"stack {settings.stack_name} {verb} ({aws.region}):")
        for change in deployment.changes:
            replacing = " (replaced)" if change.replacement == "True" else ""
            console.print(
                f"  {change.action:<6} {change.logical_id} {change.resource_type}{replacing}"
            )
    table = Table(title=f"stack {settings.stack_name} outputs")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in sorted(deployment.outputs.items()):
        table.add_row(key, value)
    console.print(table)
    return 0


def destroy_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws, resources = _context(args, settings)
    running = [
        job.job_id
        for job in JobStore(aws.dynamodb(), resources.table_name).list_jobs()
        if job.state.value == "running"
    ]
    if running and not args.force:
        print(
            f"refusing: {len(running)} jobs still run ({', '.join(running[:5])});"
            " wait for them or pass --force",
            file=sys.stderr,
        )
        return 1
    destroy(aws, settings.stack_name)
    console.print(f"stack {settings.stack_name} deleted")
    return 0


def verify_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws = make_aws(args.profile)
    report = verify(
        aws.s3(), location(args.source), location(args.dest), content=not args.no_content
    )
    console.print_json(report.model_dump_json())
    console.print("verification " + ("[green]passed[/]" if report.ok else "[red]FAILED[/]"))
    return 0 if report.ok else 1


def report_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws, resources = _context(args, settings)
    store = JobStore(aws.dynamodb(), resources.table_name)
    record = store.get_job(args.job_id)
    if record is None:
        print(f"no job {args.job_id!r}", file=sys.stderr)
        return 1
    failures = list(store.failures(args.job_id))
    if args.csv is not None:
        if str(args.csv) == "-":
            write_csv(sys.stdout, record, failures)
        else:
            with args.csv.open("w", newline="") as out:
                write_csv(out, record, failures)
            console.print(f"{len(failures)} failed objects written to {args.csv}")
        return 0
    counters = record.counters
    console.print(
        f"job {record.job_id}: {record.state.value}, {counters.objects_copied} copied,"
        f" {counters.objects_failed} failed of {record.listing.objects} listed"
    )
    if record.error:
        console.print(f"[red]{escape(record.error)}[/]")
    table = Table(title="failed objects")
    for column in ("key", "code", "HTTP", "attempts", "message"):
        table.add_column(column)
    for f in failures:
        table.add_row(
            escape(f.key), f.code, str(f.http_status or ""), str(f.attempts), escape(f.message)
        )
    console.print(table)
    return 0


def redrive_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws, resources = _context(args, settings)
    store = JobStore(aws.dynamodb(), resources.table_name)
    sent = redrive(store, aws.sqs(), resources, args.job_id, settings)
    console.print(f"job {args.job_id}: {sent} objects sent back to work")
    if args.wait:
        return _watch(aws, resources, args.job_id, console, interval_s=2.0)
    return 0
