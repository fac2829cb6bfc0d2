"""The ``plan`` command: list a source and say, before anything is copied, what a job would
do with it, the requests by service and action, their cost, and how long N copiers take.

What is counted is what the job's own sieve would enqueue (``s3migrator.cli.plan_listing``:
the listing or the manifest, the selection filters, archived objects); what is made of it is
``s3migrator.cli.survey``, priced by ``s3migrator.cli.costs``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from s3migrator.cli.costs import (
    LIST_PAGES_PER_S,
    RATE_BYTES_PER_S,
    RATE_OBJECTS_PER_S,
    Estimate,
    Part,
    Rates,
    estimate,
)
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.figures import human_bytes, human_duration
from s3migrator.cli.jobs import URL, location_option
from s3migrator.cli.plan_listing import LeftOut, planned_entries
from s3migrator.cli.selection_options import add_filter_options, selection_fields
from s3migrator.cli.survey import Entry, SizeClass, Workload, survey
from s3migrator.cli.values import count
from s3migrator.errors import UsageError
from s3migrator.models import CopySpec, Location, explain
from s3migrator.selection import ListingPlan, Manifest

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands

# A job id as long as a generated one: batch ids, and so message sizes, are the job's.
PLAN_JOB_ID = "0" * 32
_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)(?:/s)?")


def byte_rate(text: str) -> float:
    """Bytes a second: a number, optionally with B, KiB, MiB, GiB or TiB (``200MiB``)."""
    found = _RATE.fullmatch(text.strip().lower())
    if found is None or found.group(2) not in _UNITS or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate like 200MiB or 209715200")
    return float(found.group(1)) * _UNITS[found.group(2)]


def per_second(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of objects above 0")
    return value


def _listed(context: Context, entries: Iterator[Entry]) -> Iterator[Entry]:
    """The entries as they come, counted on a progress line when stderr is a terminal."""
    if not context.errors.is_terminal:
        yield from entries
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("listing: {task.completed:,} objects, {task.fields[size]}"),
        TimeElapsedColumn(),
        console=context.errors,
        transient=True,
    ) as bar:
        task = bar.add_task("listing", total=None, size="0 B")
        size = 0
        for entry in entries:
            size += entry["Size"]
            bar.update(task, advance=1, size=human_bytes(size))
            yield entry


def _listing_plan(args: argparse.Namespace) -> ListingPlan:
    """The selection, archived rule and manifest the options give, as a job's."""
    fields = selection_fields(args)
    try:
        return ListingPlan.model_validate(
            {name: fields[name] for name in ("select", "archived", "manifest") if name in fields}
        )
    except ValidationError as exc:
        raise UsageError(f"invalid selection: {explain(exc)}") from exc


def plan_command(context: Context) -> int:
    args = context.args
    source = location_option("--source", args.source)
    destination = location_option("--dest", args.dest) if args.dest else source
    spec = CopySpec(job_id=PLAN_JOB_ID, source=source, destination=destination)
    plan = _listing_plan(args)
    manifest = plan.manifest
    left_out = LeftOut()
    entries = planned_entries(context.aws.s3(), spec, plan, left_out)
    listed = _listed(context, entries)
    work = survey(listed, spec, context.settings, listing=manifest is None, decided=True)
    # What the sieve left out was read too (its listing's pages), and archived is its own say.
    work.listed += sum(left_out.objects.values())
    work.archived, work.archived_bytes = left_out.objects["archived"], left_out.bytes["archived"]
    work.not_selected = left_out.objects["not selected"]
    work.not_selected_bytes = left_out.bytes["not selected"]
    rates = Rates(objects_per_s=args.rate_objects, bytes_per_s=args.rate_bytes)
    priced = estimate(
        work, copiers=args.copiers, rates=rates, visibility_s=context.settings.work_visibility_s
    )
    named = destination if args.dest else None
    if args.json:
        print(json.dumps(document(source, named, work, priced, manifest)))
    else:
        render(context, source, named, work, priced)
    return ExitCode.OK


def document(
    source: Location,
    destination: Location | None,
    work: Workload,
    priced: Estimate,
    manifest: Manifest | None = None,
) -> dict[str, Any]:
    """The plan as ``--json`` prints it."""
    when = priced.timing
    overhead = priced.cost(Part.OVERHEAD)
    return {
        "source": source.url,
        "destination": destination.url if destination else None,
        "manifest": manifest.url if manifest else None,
        "objects": work.objects,
        "bytes": work.bytes,
        "largest": work.largest,
        "archived": {"objects": work.archived, "bytes": work.archived_bytes},
        "not_selected": {"objects": work.not_selected, "bytes": work.not_selected_bytes},
        "copies": {
            "single": work.single_copies,
            "multipart": work.multipart_copies,
            "parts": work.parts,
        },
        "batches": work.batches,
        "list_pages": work.list_pages,
        "sizes": [
            {"from": c.low, "below": c.high, "objects": c.objects, "bytes": c.bytes}
            for c in work.sizes
        ],
        "requests": [
            {
                "part": line.part.value,
                "service": line.service,
                "action": line.action,
                "requests": line.requests,
                "billed": line.billed,
                "unit": line.unit,
                "cost": line.cost,
            }
            for line in priced.lines
        ],
        "cost": {
            "floor": priced.cost(Part.FLOOR),
            "overhead": overhead,
            "compute": priced.cost(Part.COMPUTE),
            "total": priced.cost(),
            "overhead_per_million_objects": (
                overhead / work.objects * 1e6 if work.objects else None
            ),
        },
        "duration": {
            "copiers": priced.copiers,
            "copiers_busy": when.copiers_busy,
            "rate_objects_per_s": priced.rates.objects_per_s,
            "rate_bytes_per_s": priced.rates.bytes_per_s,
            "list_pages_per_s": priced.rates.list_pages_per_s,
            "listing_s": when.listing_s,
            "copier_s": when.copier_s,
            "seconds": when.seconds,
        },
        "prices": {"region": priced.prices.region, "taken": priced.prices.taken},
    }


def dollars(amount: float) -> str:
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"${amount:,.2f}"
    return f"${amount:.4f}" if amount >= 0.0001 else "<$0.0001"


def _size(count: int) -> str:
    """A size class's bound in the largest unit that divides it (``4 KiB``, ``1 TiB``)."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        step = 1024 ** (1 + ("KiB", "MiB", "GiB", "TiB").index(unit))
        if count % step == 0:
            return f"{count // step} {unit}"
    return f"{count} B"


def size_label(sizes: SizeClass) -> str:
    if sizes.high == 1:
        return "0 B"
    if sizes.high is None:
        return f"{_size(sizes.low)} and more"
    return f"{_size(sizes.low)} to {_size(sizes.high)}"


def _table(title: str, columns: Iterable[tuple[str, str]], *, header: bool = True) -> Table:
    table = Table(title=title, title_justify="left", show_header=header)
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    return table


def _billed(amount: float, unit: str) -> str:
    if amount == 1 and unit == "requests":
        return "1 request"
    if float(amount).is_integer() or amount >= 100:
        return f"{amount:,.0f} {unit}"
    return f"{amount:.3g} {unit}"


def render(
    context: Context,
    source: Location,
    destination: Location | None,
    work: Workload,
    priced: Estimate,
) -> None:
    console, when, rates = context.console, priced.timing, priced.rates
    to = f" to {escape(destination.url)}" if destination else ""
    console.print(
        f"plan for copying {escape(source.url)}{to}: nothing was copied or sent", highlight=False
    )
    summary = _table("objects", (("", "left"), ("", "right")), header=False)
    summary.add_row("to copy", f"{work.objects:,} ({human_bytes(work.bytes)})")
    summary.add_row("largest", human_bytes(work.largest))
    summary.add_row("archived, skipped", f"{work.archived:,} ({human_bytes(work.archived_bytes)})")
    if work.not_selected:
        left = f"{work.not_selected:,} ({human_bytes(work.not_selected_bytes)})"
        summary.add_row("not selected", left)
    summary.add_row("CopyObject", f"{work.single_copies:,}")
    parts = "1 part" if work.parts == 1 else f"{work.parts:,} parts"
    summary.add_row("multipart", f"{work.multipart_copies:,} ({parts})")
    summary.add_row("batches", f"{work.batches:,} ({work.send_calls:,} SendMessageBatch)")
    console.print(summary)
    sizes = _table("sizes", (("size", "left"), ("objects", "right"), ("bytes", "right")))
    for c in work.sizes:
        if c.objects:
            sizes.add_row(size_label(c), f"{c.objects:,}", human_bytes(c.bytes))
    console.print(sizes)
    prices = priced.prices
    requests = _table(
        f"requests and their cost ({prices.region} list prices of {prices.taken})",
        (
            ("part", "left"),
            ("service", "left"),
            ("action", "left"),
            ("requests", "right"),
            ("billed", "right"),
            ("cost", "right"),
        ),
    )
    for line in priced.lines:
        if line.billed:
            calls = "" if line.unit.endswith("-h") else f"{round(line.requests):,}"
            requests.add_row(
                line.part.value,
                line.service,
                escape(line.action),
                calls,
                _billed(line.billed, line.unit),
                dollars(line.cost),
            )
    console.print(requests)
    totals = _table("cost", (("", "left"), ("", "right")), header=False)
    totals.add_row("floor (the copies and the listing)", dollars(priced.cost(Part.FLOOR)))
    overhead = priced.cost(Part.OVERHEAD)
    each = f" ({dollars(overhead / work.objects * 1e6)} a million objects)" if work.objects else ""
    totals.add_row("overhead (SQS, DynamoDB, HEAD)", dollars(overhead) + each)
    totals.add_row(
        f"compute ({priced.copiers} copiers, the coordinator, the progress function)",
        dollars(priced.cost(Part.COMPUTE)),
    )
    totals.add_row("total", dollars(priced.cost()))
    console.print(totals)
    duration = _table("duration", (("", "left"), ("", "right")), header=False)
    duration.add_row(
        "assumed per copier",
        f"{rates.objects_per_s:,g} objects/s small, {human_bytes(rates.bytes_per_s)}/s large",
    )
    duration.add_row(
        "listing",
        f"{human_duration(when.listing_s)} ({work.pages:,} pages at {rates.list_pages_per_s:g}/s)",
    )
    duration.add_row(
        "copying",
        f"{human_duration(when.copier_s)} of copier time, shared by {when.copiers_busy}",
    )
    duration.add_row(f"estimated with {priced.copiers} copiers", human_duration(when.seconds))
    console.print(duration)


DESCRIPTION = f"""\
List the source with your credentials and say what a job copying it would do, before anything
is copied or sent: objects, bytes and their sizes (powers of 4 from 0 B to 1 TiB); the requests
the job would make by service and action (S3 LIST pages of 1,000 keys, a CopyObject for each
object below the multipart threshold, HeadObject, CreateMultipartUpload, UploadPartCopy per part
and CompleteMultipartUpload above it; SQS sends, receives, deletes and visibility extensions of
the batches the coordinator would pack; the DynamoDB writes that define and count each batch;
the progress function's runs; Fargate hours of the copiers and the coordinator); their cost at
us-east-1 list prices, split into the floor (what any server-side copy makes: the listing and
the copies), the overhead this system adds, and compute; and how long --copiers take.

Batches, messages and parts are counted with the coordinator's and the copier's own code and
the S3MIGRATOR_* settings (batch size, multipart threshold, part size). Archived objects
(GLACIER, DEEP_ARCHIVE, not restored) are counted apart: a job skips them by default. With
--manifest the keys are read from the file as a job reads them, and no LIST is counted (nor
the manifest's own reads: a GET per file, a HeadObject per row without size and ETag).

The duration assumes, per copier, {RATE_OBJECTS_PER_S:g} objects/s for small objects and
{human_bytes(RATE_BYTES_PER_S)}/s for large ones (and a listing of {LIST_PAGES_PER_S:g} pages/s):
assumptions, not measurements; pass the rates you measured with --rate-objects and --rate-bytes.
The job is never shorter than its listing, nor than its largest object, whose parts one copier
copies. Fargate is priced at x86 rates; the template's ARM64 default costs about 20% less."""


def register(commands: Commands) -> None:
    parser = commands.add(
        "plan",
        help="what copying a source would take: objects, requests, cost and duration",
        description=DESCRIPTION,
        examples=[
            "s3migrator plan --source s3://old-bucket/logs/",
            "s3migrator plan --source s3://old-bucket --dest s3://new-bucket --copiers 8",
            "s3migrator plan --source s3://old-bucket --rate-objects 250 --rate-bytes 400MiB",
            "s3migrator plan --source s3://old-bucket --manifest s3://old-bucket/keys.csv",
            "s3migrator plan --source s3://old-bucket --json | jq .cost",
        ],
        handler=plan_command,
    )
    parser.add_argument("--source", required=True, metavar=URL, help="what to list and plan for")
    parser.add_argument(
        "--dest",
        metavar=URL,
        help="where it would go (it sizes the messages; nothing is read there)",
    )
    parser.add_argument(
        "--copiers", type=count, default=2, metavar="N", help="copier tasks working at once"
    )
    parser.add_argument(
        "--rate-objects",
        type=per_second,
        default=RATE_OBJECTS_PER_S,
        metavar="N",
        help="small objects one copier copies a second",
    )
    parser.add_argument(
        "--rate-bytes",
        type=byte_rate,
        default=f"{RATE_BYTES_PER_S / _UNITS['mib']:g}MiB",
        metavar="SIZE",
        help="bytes one copier copies a second in large objects (200MiB, or bytes)",
    )
    filters = add_filter_options(parser)
    filters.add_argument(
        "--archived",
        choices=["skip", "copy"],
        help="archived objects not restored: left out and counted (the default), or copied",
    )
    parser.add_argument(
        "--manifest",
        metavar="S3_URL",
        help="plan for the keys this file names instead of listing the source: a CSV of"
        " bucket,key[,size,etag] rows or an S3 Inventory report's manifest.json, as a job's"
        " --manifest",
    )
    parser.add_argument(
        "--manifest-format",
        choices=["csv", "inventory"],
        help="what --manifest is (default: inventory for a name ending in manifest.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
