"""A job message naming a manifest: what it may be combined with, and how the CLI writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from s3migrator.cli.jobs import job_from_args
from s3migrator.cli.parser import build_parser
from s3migrator.errors import InvalidJobMessageError, UsageError
from s3migrator.models import JobMessage
from s3migrator.selection import Manifest


def parsed(**fields: Any) -> JobMessage:
    body = {
        "mode": "copy",
        "source": {"bucket": "src"},
        "destination": {"bucket": "dst"},
        "manifest": {"bucket": "lists", "key": "keys.csv"},
        **fields,
    }
    return JobMessage.parse(json.dumps(body))


def refusal(**fields: Any) -> str:
    with pytest.raises(InvalidJobMessageError) as caught:
        parsed(**fields)
    return str(caught.value)


def test_the_format_follows_the_name_unless_given() -> None:
    assert Manifest(bucket="lists", key="x/keys.csv").format == "csv"
    assert Manifest(bucket="lists", key="inv/2026-01-01T00-00Z/manifest.json").format == "inventory"
    assert Manifest(bucket="lists", key="manifest.json", format="csv").format == "csv"


def test_the_manifest_travels_in_the_listing_plan() -> None:
    assert parsed().listing_plan().manifest == Manifest(bucket="lists", key="keys.csv")


def test_a_manifest_is_refused_where_it_would_drop_or_delete_objects() -> None:
    assert "with a manifest, whatever it does not name would be deleted" in refusal(
        sync=True, delete_extra=True
    )
    assert 'a manifest names current objects: versions "all" lists the source' in refusal(
        versions="all"
    )
    migrate = {
        "mode": "migrate",
        "destination": {"bucket": "src", "region": "eu-west-1"},
        "confirm_delete_source": True,
    }
    assert "it lists the bucket, not a manifest" in refusal(**migrate)


def test_submit_writes_the_manifest_option_into_the_message() -> None:
    args = build_parser().parse_args(
        [
            "submit",
            "--source",
            "s3://src",
            "--dest",
            "s3://dst",
            "--manifest",
            "s3://lists/a/m.json",
        ]
    )
    given = job_from_args(args).manifest
    assert given == Manifest(bucket="lists", key="a/m.json", format="csv")
    bad = build_parser().parse_args(
        ["submit", "--source", "s3://src", "--dest", "s3://dst", "--manifest", "keys.csv"]
    )
    with pytest.raises(UsageError, match="--manifest: expected s3://BUCKET"):
        job_from_args(bad)
