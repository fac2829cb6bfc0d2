"""A job that reads an S3 Inventory report instead of listing its source, end to end: the
report's files uploaded with the AWS CLI, the job sent with `s3migrator submit --manifest`, a
coordinator and two copiers as real processes against a moto server."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, small_objects

pytestmark = pytest.mark.e2e

SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"


def inventory_file(stack: Stack, keys: list[str], path: Path) -> None:
    """A report's data file as S3 Inventory writes one: gzipped CSV, every cell quoted, keys
    URL-encoded, ETags bare."""
    s3 = stack.client("s3")
    lines = []
    for key in keys:
        head = s3.head_object(Bucket="inv-source", Key=key)
        cells = [
            "inv-source",
            quote_plus(key),
            str(head["ContentLength"]),
            "2026-01-02T03:04:05.000Z",
            head["ETag"].strip('"'),
            "STANDARD",
        ]
        lines.append(",".join(f'"{cell}"' for cell in cells) + "\n")
    path.write_bytes(gzip.compress("".join(lines).encode()))


def test_an_inventory_report_uploaded_with_the_aws_cli_drives_a_job(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a deployed stack, a source of 150 objects, and an inventory report naming the even
    # ones in two files (each in key order), uploaded with the AWS CLI
    assert stack.cli("deploy").returncode == 0
    objects = small_objects(150)
    fill(stack, "inv-source", objects)
    named = sorted(objects)[::2]
    stack.client("s3").create_bucket(Bucket="inv-reports")
    files = []
    for number, part in enumerate((named[::2], named[1::2])):
        path = tmp_path / f"data-{number}.csv.gz"
        inventory_file(stack, part, path)
        key = f"inv-source/daily/data/data-{number}.csv.gz"
        copied = stack.aws("s3", "cp", str(path), f"s3://inv-reports/{key}")
        assert copied.returncode == 0, copied.stderr
        files.append({"key": key, "size": path.stat().st_size, "MD5checksum": "0"})
    manifest = {
        "sourceBucket": "inv-source",
        "destinationBucket": "arn:aws:s3:::inv-reports",
        "fileFormat": "CSV",
        "fileSchema": SCHEMA,
        "files": files,
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    report_key = "inv-source/daily/2026-01-02T01-00Z/manifest.json"
    copied = stack.aws(
        "s3", "cp", str(tmp_path / "manifest.json"), f"s3://inv-reports/{report_key}"
    )
    assert copied.returncode == 0, copied.stderr

    # WHEN the job is submitted with the manifest and the processes run
    submitted = stack.cli(
        "submit",
        "--source",
        "s3://inv-source",
        "--dest",
        "s3://inv-destination",
        "--manifest",
        f"s3://inv-reports/{report_key}",
        "--job-id",
        "from-inventory",
    )
    assert submitted.returncode == 0, submitted.stderr
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    status = stack.wait_for_state("from-inventory")

    # THEN exactly the named objects were copied, each counted once
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_total"] == status["objects_copied"] == len(named)
    assert status["bytes_copied"] == sum(len(objects[key]) for key in named)
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket="inv-destination")
    assert sorted(o["Key"] for page in pages for o in page.get("Contents", [])) == named
