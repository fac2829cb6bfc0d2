"""Access commands: ``check`` (preflight) and ``grant`` (the source bucket policy)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from coordinator.authority import Authority
from coordinator.preflight import CheckResult, passed, run_checks
from coordinator.source_grant import (
    grant_sids,
    grant_statements,
    merge,
    read_policy,
    revoke,
    write_policy,
)
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.jobs import URL, add_side_options, job_from_args, location_option
from s3migrator.errors import (
    InvalidJobMessageError,
    JobNotFoundError,
    S3MigratorError,
    UsageError,
)
from s3migrator.models import ROLE_ARN_PATTERN, CopySpec, JobMessage, Location
from s3migrator.sessions import s3_clients

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands

_COLOUR = {CheckResult.OK: "green", CheckResult.MISSING: "red", CheckResult.SKIPPED: "dim"}
ROLE_ARN = re.compile(ROLE_ARN_PATTERN)
# Options that describe a job on the command line, which a job file describes instead.
SIDE_OPTIONS = (
    "source",
    "dest",
    "source_region",
    "dest_region",
    "source_role",
    "dest_role",
    "source_account",
    "dest_account",
    "dest_kms_key",
)


def _job_to_check(context: Context) -> JobMessage:
    """The job from a file or from the options, validated exactly as ``submit`` validates it."""
    args = context.args
    if args.job_file is not None:
        given = [name for name in SIDE_OPTIONS if getattr(args, name) is not None]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(f"a JOB_FILE says everything about the job; drop {flags}")
        try:
            return JobMessage.parse(args.job_file.read_text())
        except OSError as exc:
            raise UsageError(f"cannot read {args.job_file}: {exc.strerror}") from exc
        except InvalidJobMessageError as exc:
            raise UsageError(str(exc)) from exc
    if not (args.source and args.dest):
        raise UsageError("give a JOB_FILE, or --source and --dest")
    return job_from_args(args)


def check_command(context: Context) -> int:
    # Each side's bucket owner, as the coordinator binds it: a bucket of that name owned by
    # any other account shows as MISSING.
    authority = Authority.from_settings(context.settings, context.aws.session)
    job = authority.bind(_job_to_check(context), enforce=False)
    spec = CopySpec(
        job_id=job.job_id or "check",
        source=job.source,
        destination=job.destination,
        options=job.options,
    )
    checks = run_checks(s3_clients(context.aws, context.settings), spec)
    table = Table(title=f"access for {escape(spec.source.url)} -> {escape(spec.destination.url)}")
    for column in ("check", "result", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(
            check.name,
            f"[{_COLOUR[check.result]}]{check.result.value}[/]",
            escape(check.detail),
            escape(check.fix),
        )
    context.console.print(table)
    return ExitCode.OK if passed(checks) else ExitCode.FAILED


def _grant_target(context: Context) -> tuple[Location, str]:
    """The source location, from a job or from the options, and the reading role as given.

    The role is always the operator's own ``--reader-role``: a job record is only what someone
    sent to the jobs queue, so its destination role is a cross-check, never the grant's subject.
    """
    args = context.args
    reader = args.reader_role
    if not ROLE_ARN.fullmatch(reader):
        raise UsageError(
            f"--reader-role: {reader!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )
    if args.job:
        record = context.store.get_job(args.job)
        if record is None:
            raise JobNotFoundError(args.job)
        if record.spec is None:
            raise S3MigratorError(f"job {args.job} was rejected: {record.error}")
        source = record.spec.source
        copier = record.spec.destination.role_arn
        if copier and copier != reader:
            raise UsageError(
                f"--reader-role: job {args.job} copies as {copier}, not {reader};"
                " check who sent the job before granting either"
            )
    elif args.source:
        source = location_option("--source", args.source, role_arn=args.source_role)
    else:
        raise UsageError("give --job JOB_ID, or --source s3://BUCKET[/PREFIX]")
    if args.source_role:
        source = source.model_copy(update={"role_arn": args.source_role})
    return source, reader


def _policy_text(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def _confirm_apply(context: Context, source: Location, statements: list[dict[str, Any]]) -> bool:
    """True when the operator agrees to the change on a terminal, or said --yes beforehand.

    A grant opens a bucket to another account, so a script or a pasted command must say so
    with --yes; a closed or piped stdin is never taken as consent.
    """
    if context.args.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            f"--apply changes the bucket policy of s3://{source.bucket}: run it on a terminal"
            " to confirm, or add --yes"
        )
    context.console.print(
        f"These statements will be added to the bucket policy of s3://{escape(source.bucket)}"
        " (its other statements are kept):"
    )
    context.console.print(_policy_text(statements), markup=False, highlight=False)
    try:
        answer = input("Apply? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def grant_command(context: Context) -> int:
    args = context.args
    source, reader = _grant_target(context)
    statements = grant_statements(source, reader)
    if not (args.apply or args.revoke):
        print(_policy_text(statements))
        return ExitCode.OK
    if args.apply and not _confirm_apply(context, source, statements):
        context.console.print("not applied: the bucket policy is unchanged")
        return ExitCode.FAILED
    s3 = s3_clients(context.aws, context.settings).for_location(
        Location(bucket=source.bucket, role_arn=source.role_arn, region=source.region)
    )
    current = read_policy(s3, source.bucket)
    if args.apply:
        write_policy(s3, source.bucket, merge(current, statements))
        context.console.print(f"granted {reader} read access to {escape(source.url)}")
    else:
        write_policy(s3, source.bucket, revoke(current, grant_sids(source, reader)))
        context.console.print(f"revoked {reader}'s read access to {escape(source.url)}")
    return ExitCode.OK


def register(commands: Commands) -> None:
    check = commands.add(
        "check",
        help="try the access a job will need and print what works and what is missing",
        description=(
            "Preflight: assume each role, list the source, read one byte of a sample object as\n"
            "the copying (destination) side, head the destination, try the destination KMS key.\n"
            "Prints a table of what works and what is missing, with the fix. The job is validated\n"
            "as `submit` validates it. Exits 1 when something is missing."
        ),
        examples=[
            "s3migrator check job.json",
            "s3migrator check --source s3://old-bucket --dest s3://new-bucket"
            " --dest-role arn:aws:iam::222222222222:role/s3migrator-destination",
        ],
        handler=check_command,
    )
    check.add_argument(
        "job_file",
        nargs="?",
        type=Path,
        metavar="JOB_FILE",
        help="a job message (JSON); or give --source and --dest",
    )
    check.add_argument("--source", metavar=URL, help="what the job copies")
    check.add_argument("--dest", metavar=URL, help="where it copies to")
    add_side_options(check)

    grant = commands.add(
        "grant",
        help="the source bucket policy statements that let the copying role read the source",
        description=(
            "Prints the statements (scoped to one role, one bucket and prefix, read-only\n"
            "actions); --apply merges them into the source bucket's policy, keeping every other\n"
            "statement, after showing them and asking (--yes answers for a script); --revoke\n"
            "removes only them. The reading role is always given with --reader-role; --job takes\n"
            "the source from a job and refuses when the job names another role. Run it with the\n"
            "source account's credentials (or --source-role)."
        ),
        examples=[
            "s3migrator grant --source s3://old-bucket/data/ --reader-role"
            " arn:aws:iam::222222222222:role/s3migrator-destination --apply",
            "s3migrator grant --job JOB_ID --reader-role"
            " arn:aws:iam::222222222222:role/s3migrator-destination --revoke",
        ],
        handler=grant_command,
    )
    where = grant.add_mutually_exclusive_group()
    where.add_argument("--job", metavar="JOB_ID", help="take the source from a job")
    where.add_argument("--source", metavar=URL, help="the source bucket and prefix to share")
    grant.add_argument(
        "--reader-role",
        required=True,
        metavar="ARN",
        help="the role that copies (destination); never read from a job alone",
    )
    grant.add_argument(
        "--source-role",
        metavar="ARN",
        help="role assumed to edit the source bucket's policy (default: your credentials)",
    )
    action = grant.add_mutually_exclusive_group()
    action.add_argument("--apply", action="store_true", help="merge into the bucket policy")
    action.add_argument("--revoke", action="store_true", help="remove our statements only")
    grant.add_argument(
        "--yes", action="store_true", help="apply without asking (for scripts: no terminal)"
    )
