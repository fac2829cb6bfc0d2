"""``submit``'s options for a same-name migration (``--mode migrate``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_migration_options(parser: argparse.ArgumentParser) -> None:
    migrate = parser.add_argument_group(
        "migration (--mode migrate: the destination is the source's bucket name elsewhere)"
    )
    migrate.add_argument(
        "--yes-delete-source",
        action="store_true",
        help="let the migration delete the source bucket once its copy is verified (without"
        " it, the job stops there, the copy kept in a temporary bucket)",
    )
    migrate.add_argument(
        "--name-wait-hours",
        type=float,
        metavar="H",
        help="how long to wait for S3 to release the name once the source is deleted (72)",
    )
    migrate.add_argument(
        "--noncurrent-versions",
        choices=["keep", "drop"],
        help="a versioned source: stop (keep, the default) or accept losing its noncurrent"
        " versions and delete markers (drop)",
    )


def migration_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The job message's migration fields the options set (none unless given)."""
    fields: dict[str, Any] = {}
    if getattr(args, "yes_delete_source", False):
        fields["confirm_delete_source"] = True
    if getattr(args, "name_wait_hours", None) is not None:
        fields["name_wait_h"] = args.name_wait_hours
    if getattr(args, "noncurrent_versions", None):
        fields["noncurrent_versions"] = args.noncurrent_versions
    return fields
