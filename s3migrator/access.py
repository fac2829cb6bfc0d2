"""The access commands: ``check`` (preflight) and ``grant`` (source bucket policy)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from s3migrator.aws import make_aws
from s3migrator.commands import destination_location, source_location
from s3migrator.errors import S3MigratorError
from s3migrator.grant import (
    grant_sids,
    grant_statements,
    merge,
    read_policy,
    revoke,
    write_policy,
)
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobMessage, Location
from s3migrator.preflight import Outcome, passed, run_checks
from s3migrator.processes import s3_clients
from s3migrator.resources import resolve
from s3migrator.submit import location

if TYPE_CHECKING:
    from rich.console import Console

    from s3migrator.settings import Settings


def _spec_from_args(args: argparse.Namespace) -> CopySpec:
    if args.job_file is not None:
        job = JobMessage.model_validate_json(args.job_file.read_text()).with_id()
        assert job.job_id is not None
        return CopySpec(
            job_id=job.job_id, source=job.source, destination=job.destination, options=job.options
        )
    if not (args.source and args.dest):
        raise S3MigratorError("give a JOB_FILE, or --source and --dest")
    return CopySpec(
        job_id="check", source=source_location(args), destination=destination_location(args)
    )


def check_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    try:
        spec = _spec_from_args(args)
    except ValueError as exc:
        print(f"invalid job: {exc}", file=sys.stderr)
        return 2
    checks = run_checks(s3_clients(make_aws(args.profile), settings), spec)
    table = Table(title=f"access for {spec.source.url} -> {spec.destination.url}")
    for column in ("check", "result", "detail", "fix"):
        table.add_column(column, overflow="fold")
    colour = {Outcome.OK: "green", Outcome.MISSING: "red", Outcome.SKIPPED: "dim"}
    for check in checks:
        table.add_row(
            check.name,
            f"[{colour[check.outcome]}]{check.outcome.value}[/]",
            escape(check.detail),
            escape(check.fix),
        )
    console.print(table)
    return 0 if passed(checks) else 1


def grant_command(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    aws = make_aws(args.profile)
    if args.job:
        store = JobStore(aws.dynamodb(), resolve(aws, settings).table_name)
        record = store.get_job(args.job)
        if record is None or record.spec is None:
            raise S3MigratorError(f"no runnable job {args.job!r}")
        source = record.spec.source
        reader = args.reader_role or record.spec.destination.role_arn
    elif args.source:
        source = location(args.source, role_arn=args.source_role)
        reader = args.reader_role
    else:
        raise S3MigratorError("give --job JOB_ID, or --source s3://BUCKET[/PREFIX]")
    if not reader:
        raise S3MigratorError(
            "no copying role: the job has no destination role; give --reader-role ARN"
        )
    if args.source_role:
        source = source.model_copy(update={"role_arn": args.source_role})
    statements = grant_statements(source, reader)
    if not (args.apply or args.revoke):
        print(json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2))
        return 0
    s3 = s3_clients(aws, settings).for_location(
        Location(bucket=source.bucket, role_arn=source.role_arn, region=source.region)
    )
    current = read_policy(s3, source.bucket)
    if args.apply:
        write_policy(s3, source.bucket, merge(current, statements))
        console.print(f"granted {reader} read access to {escape(source.url)}")
    else:
        write_policy(s3, source.bucket, revoke(current, grant_sids(source, reader)))
        console.print(f"revoked {reader}'s read access to {escape(source.url)}")
    return 0
