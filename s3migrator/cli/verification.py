"""The ``verify`` command: compare a destination with its source and list every difference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from coordinator.verify import VerifyReport, verify, verifying_client, verifying_config
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.figures import human_bytes
from s3migrator.cli.jobs import URL, location_option
from s3migrator.errors import UsageError
from s3migrator.models import Location
from s3migrator.selection import EVERYTHING, ListingPlan
from s3migrator.sessions import s3_clients

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


def _escaped(field: str) -> str:
    return (
        field.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _print_report(context: Context, report: VerifyReport) -> None:
    console = context.console
    what = "keys, sizes and content" if report.content_compared else "keys and sizes"
    if report.compared_by:
        by = ", ".join(f"{count} by {kind.value}" for kind, count in report.compared_by.items())
        what += f" ({by})"
    if report.skipped:
        console.print(
            f"{report.skipped} source objects are not the job's to copy (not selected, or"
            " archived and skipped): not expected in the destination",
            highlight=False,
        )
    if report.ok:
        console.print(
            f"verification [green]passed[/]: {report.objects} objects"
            f" ({human_bytes(report.bytes)}) of {escape(report.source)} are in"
            f" {escape(report.destination)} with the same {what}",
            highlight=False,
        )
        return
    if console.is_terminal:
        table = Table(title=f"differences ({what} compared)", title_justify="left")
        for column in ("difference", "source", "destination", "detail"):
            table.add_column(column, overflow="fold")
        for d in report.differences:
            table.add_row(d.kind.value, escape(d.source), escape(d.destination), escape(d.detail))
        console.print(table)
    else:
        # One difference per line, tab-separated, for scripts (``--json`` says more); a tab,
        # a line break or a backslash inside a key is written as \t, \n, \r or \\.
        for d in report.differences:
            fields = (d.kind.value, d.source or "-", d.destination or "-", d.detail)
            console.print("\t".join(map(_escaped, fields)), markup=False, highlight=False)
    counts = ", ".join(f"{kind.value} {count}" for kind, count in report.counts().items())
    console.print(
        f"verification [red]FAILED[/]: {len(report.differences)} differences ({counts})"
        f" among {report.objects} source objects",
        highlight=False,
    )


def _sides(
    context: Context,
) -> tuple[S3Client, S3Client, Location, Location, ListingPlan | None, dict[str, Any]]:
    """The clients and locations to compare: two URLs read with the caller's credentials, or a
    job's two sides, each read as the job reads it (its role, region and expected owner)."""
    args = context.args
    if args.dest is not None:
        s3 = verifying_client(context.aws)
        return (
            s3,
            s3,
            location_option("SOURCE", args.source),
            location_option("DESTINATION", args.dest),
            None,
            {},
        )
    record = context.store.get_job(args.source)
    if record is None or record.spec is None:
        raise UsageError(f"no job {args.source!r} with a source and destination to compare")
    spec = record.spec
    clients = s3_clients(
        context.aws,
        context.settings,
        default=verifying_client(context.aws),
        config=verifying_config(context.aws),
    )
    return (
        clients.for_location(spec.source, spec),
        clients.for_location(spec.destination, spec),
        spec.source,
        spec.destination,
        record.plan or EVERYTHING,
        spec.options.source_payer(),
    )


def verify_command(context: Context) -> int:
    args = context.args
    s3, dst_s3, source, destination, plan, payer = _sides(context)
    if args.json or not context.errors.is_terminal:
        report = verify(
            s3,
            source,
            destination,
            content=not args.no_content,
            read_bytes=args.bytes,
            destination_s3=dst_s3,
            plan=plan,
            payer=payer,
        )
    else:
        with Progress(
            TextColumn("comparing"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=context.errors,
            transient=True,
        ) as bar:
            task = bar.add_task("compare", total=None)
            report = verify(
                s3,
                source,
                destination,
                content=not args.no_content,
                read_bytes=args.bytes,
                destination_s3=dst_s3,
                on_compared=lambda size: bar.advance(task, size),
                plan=plan,
                payer=payer,
            )
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_report(context, report)
    return ExitCode.OK if report.ok else ExitCode.FAILED


def register(commands: Commands) -> None:
    verify_parser = commands.add(
        "verify",
        help="compare a destination with its source, listing every difference",
        description=(
            "List both sides and compare every key (relative to each prefix), size and, unless\n"
            "--no-content, what each object holds: by equal ETags (no request), else by both\n"
            "sides' CRC of the whole object (one HEAD each), else by reading the bytes (all of\n"
            "them with --bytes). Every difference is listed: missing, extra, size, checksum,\n"
            "content, or unreadable with the reason; one unreadable object never stops the\n"
            "rest. Exits 0 when the sides match, 1 when they differ."
        ),
        examples=[
            "s3migrator verify s3://old-bucket s3://new-bucket",
            "s3migrator verify s3://logs/2024/ s3://archive/logs/ --no-content --json",
            "s3migrator verify JOB_ID",
        ],
        handler=verify_command,
    )
    verify_parser.add_argument(
        "source", metavar="SOURCE", help=f"the source, {URL}; or a JOB_ID alone"
    )
    verify_parser.add_argument(
        "dest",
        metavar="DESTINATION",
        nargs="?",
        help=f"the destination, {URL} (none with a JOB_ID: the job's sides, read as it reads them)",
    )
    verify_parser.add_argument(
        "--no-content", action="store_true", help="compare keys and sizes only"
    )
    verify_parser.add_argument(
        "--bytes",
        action="store_true",
        help="read every object's bytes on both sides, even where ETags or CRCs tell",
    )
    verify_parser.add_argument("--json", action="store_true", help="print the report as JSON")
