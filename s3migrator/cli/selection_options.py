"""``submit``'s options for what a job copies and how: selection, sync, archived objects, and
the properties each copy is given. Each maps to a field of the job message (``s3migrator
schema``), so a job sent from the CLI is the one any SQS client could send."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from s3migrator.errors import UsageError
from s3migrator.job_options import ChecksumAlgorithm, StorageClass
from s3migrator.names import split_s3_url

CLASSES = list(get_args(StorageClass))


def add_filter_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The selection filters (``select``), in a group of their own, which it returns."""
    select = parser.add_argument_group(
        "what to copy (key patterns are globs on the key below the source prefix: * within a"
        " segment, ** across segments; a pattern without / matches the last segment)"
    )
    select.add_argument("--include", action="append", metavar="GLOB", help="copy only keys like")
    select.add_argument("--exclude", action="append", metavar="GLOB", help="leave out keys like")
    select.add_argument(
        "--modified-after", metavar="ISO-8601", help="only objects modified after (with a zone)"
    )
    select.add_argument(
        "--modified-before", metavar="ISO-8601", help="only objects modified before"
    )
    select.add_argument("--min-size", type=int, metavar="BYTES", help="only objects this large")
    select.add_argument("--max-size", type=int, metavar="BYTES", help="only objects this small")
    select.add_argument(
        "--select-class",
        action="append",
        choices=CLASSES,
        metavar="CLASS",
        help="only objects in this storage class (repeatable)",
    )
    return select


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    select = add_filter_options(parser)
    select.add_argument(
        "--manifest",
        metavar="S3_URL",
        help="copy the keys this file names instead of listing the source: a CSV of"
        " bucket,key[,size,etag[,class]] rows (keys URL-encoded, in S3's key order), or an S3"
        " Inventory report's manifest.json (CSV files); read with the source's access",
    )
    select.add_argument(
        "--manifest-format",
        choices=["csv", "inventory"],
        help="what --manifest is (default: inventory for a name ending in manifest.json)",
    )
    select.add_argument(
        "--sync",
        action="store_true",
        help="copy only what is new or changed (size, and ETag or age) since the destination's"
        " copy; overwrite becomes if-different",
    )
    select.add_argument(
        "--delete-extra",
        action="store_true",
        help="with --sync, delete destination objects the source no longer has",
    )
    select.add_argument(
        "--archived",
        choices=["skip", "copy", "restore"],
        help="archived objects (GLACIER, DEEP_ARCHIVE) not restored: skip and count them (the"
        " default), try to copy them (each fails, reported, until restored), or restore each"
        " (see --restore-days, --restore-tier) and copy it once restored",
    )
    select.add_argument(
        "--restore-days", type=int, metavar="N", help="with --archived restore: days (7)"
    )
    select.add_argument(
        "--restore-tier",
        choices=["Standard", "Bulk", "Expedited"],
        help="with --archived restore: S3's retrieval tier (Standard)",
    )
    select.add_argument(
        "--versions",
        choices=["current", "all"],
        help="copy each object's current version (the default), or all its versions, oldest"
        " first, delete markers included (the destination must keep versions)",
    )
    copies = parser.add_argument_group("what each copy is given")
    copies.add_argument(
        "--storage-class", choices=CLASSES, metavar="CLASS", help="write every copy in this class"
    )
    copies.add_argument(
        "--checksum-algorithm",
        choices=list(get_args(ChecksumAlgorithm)),
        help="the checksum S3 stores with every copy",
    )
    copies.add_argument(
        "--copy-acl", action="store_true", help="copy each object's ACL grants (needs ACLs enabled)"
    )
    copies.add_argument(
        "--requester-pays", action="store_true", help="the source is a requester-pays bucket"
    )
    copies.add_argument(
        "--object-lock",
        choices=["keep", "ignore"],
        help="keep each copy's Object Lock retention and legal hold (the default; the"
        " destination must have Object Lock), or ignore them",
    )


def selection_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The job message's fields the options above give (absent when not given)."""
    select = {
        "include": getattr(args, "include", None),
        "exclude": getattr(args, "exclude", None),
        "modified_after": getattr(args, "modified_after", None),
        "modified_before": getattr(args, "modified_before", None),
        "min_size": getattr(args, "min_size", None),
        "max_size": getattr(args, "max_size", None),
        "storage_classes": getattr(args, "select_class", None),
    }
    fields: dict[str, Any] = {}
    if any(value is not None for value in select.values()):
        fields["select"] = {k: v for k, v in select.items() if v is not None}
    manifest = getattr(args, "manifest", None)
    if manifest:
        try:
            bucket, key = split_s3_url(manifest)
        except ValueError as exc:
            raise UsageError(f"--manifest: {exc}") from exc
        fields["manifest"] = {"bucket": bucket, "key": key}
        if getattr(args, "manifest_format", None):
            fields["manifest"]["format"] = args.manifest_format
    for name in ("sync", "delete_extra"):
        if getattr(args, name, False):
            fields[name] = True
    for name in ("archived", "versions"):
        if getattr(args, name, None):
            fields[name] = getattr(args, name)
    restore = {
        "days": getattr(args, "restore_days", None),
        "tier": getattr(args, "restore_tier", None),
    }
    if any(value is not None for value in restore.values()):
        fields["restore"] = {k: v for k, v in restore.items() if v is not None}
    return fields


def copy_options(args: argparse.Namespace) -> dict[str, Any]:
    """The job's ``options`` the options above give."""
    options: dict[str, Any] = {
        "storage_class": getattr(args, "storage_class", None),
        "checksum_algorithm": getattr(args, "checksum_algorithm", None),
        "object_lock": getattr(args, "object_lock", None),
    }
    for name in ("copy_acl", "requester_pays"):
        if getattr(args, name, False):
            options[name] = True
    return {k: v for k, v in options.items() if v is not None}
