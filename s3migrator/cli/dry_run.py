"""``submit --dry-run``: what a job would copy, skip and delete, decided by the coordinator's own
sieve (``coordinator.sieve``), with nothing sent, created or changed.

Each object to copy or delete, and each archived one skipped, is printed on a line of its own
(tab-separated: action, key, bytes); objects unchanged or not selected are counted only. A
summary of counts and bytes per action ends the output.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from coordinator.sieve import Sieve
from coordinator.verify import verifying_client, verifying_config
from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.figures import human_bytes
from s3migrator.errors import NotFoundError
from s3migrator.models import CopySpec, JobMessage
from s3migrator.sessions import s3_clients

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.cli.context import Context

# Reasons whose keys are listed one by one: each is a decision a user checks.
LISTED = frozenset({"archived"})


def _escaped(key: str) -> str:
    return key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _exists(s3: S3Client, spec: CopySpec) -> bool:
    try:
        s3.head_bucket(Bucket=spec.destination.bucket, **spec.destination.expected_owner())
    except PROVIDER_ERRORS as exc:
        if isinstance(translate(exc), NotFoundError):
            return False
        raise
    return True


def dry_run(context: Context, message: JobMessage) -> int:
    spec = CopySpec(
        job_id=message.job_id or "dry-run",
        source=message.source,
        destination=message.destination,
        options=message.options,
        overwrite=message.overwrite,
    )
    plan = message.listing_plan()
    clients = s3_clients(
        context.aws,
        context.settings,
        default=verifying_client(context.aws),
        config=verifying_config(context.aws),
    )
    destination = clients.for_location(spec.destination, spec)
    merged = plan.sync and _exists(destination, spec)
    if plan.sync and not merged:
        context.warn(f"{spec.destination.url} does not exist yet: the job creates it")
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()

    def line(action: str, key: str, size: int, version: str | None = None) -> None:
        counts[action] += 1
        sizes[action] += size
        # Plain lines, tabs kept, for scripts to read (a version id last, when copying them).
        version_id = "" if version is None else f"\t{version}"
        sys.stdout.write(f"{action}\t{_escaped(key)}\t{size}{version_id}\n")

    def skipped(reason: str, entry: dict[str, Any]) -> None:
        size = entry.get("Size", 0)  # a delete marker has none
        if reason in LISTED:
            line(f"skip ({reason})", entry["Key"], size)
        else:
            counts[f"skip ({reason})"] += 1
            sizes[f"skip ({reason})"] += size

    sieve = Sieve(
        clients.for_location(spec.source, spec),
        spec,
        plan,
        destination if merged else None,
        on_skip=skipped,
    )
    for item in sieve.items(None):
        if item.delete:  # named as the destination's key it is
            line("delete", spec.destination_key(item.key), item.size)
        else:
            action = "marker" if item.marker else "restore" if item.restore else "copy"
            line(action, item.key, item.size, item.version_id)
    table = Table(title="dry run: nothing was sent or changed", title_justify="left")
    for column, justify in (("action", "left"), ("objects", "right"), ("bytes", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    markers = [action for action in ("marker", "restore") if counts[action]]
    for action in ("copy", *markers, "delete", *sorted(a for a in counts if "skip" in a)):
        table.add_row(escape(action), str(counts[action]), human_bytes(sizes[action]))
    context.errors.print(table)
    return ExitCode.OK
