"""``s3migrator plan`` against a known bucket: what it lists, how it would copy it, the requests
and their cost, and the duration, run through the command line's entry point in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto_helpers import fill

from s3migrator.cli import main
from s3migrator.settings import MiB

LOGS = {f"logs/{i:05d}.log": b"x" * 100 for i in range(450)}
CLIP = 20 * MiB


@pytest.fixture
def bucket(s3: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """450 logs of 100 bytes, a 20 MiB clip (multipart from 8 MiB, in 5 MiB parts), an empty
    object and an archived one; batches of at most 200 keys, so that the logs make three."""
    monkeypatch.setenv("S3MIGRATOR_BATCH_MAX_KEYS", "200")
    monkeypatch.setenv("S3MIGRATOR_MULTIPART_THRESHOLD_BYTES", str(8 * MiB))
    monkeypatch.setenv("S3MIGRATOR_PART_SIZE_BYTES", str(5 * MiB))
    fill(s3, "src", {**LOGS, "media/clip.mov": b"c" * CLIP, "zero": b""})
    fill(s3, "src", {"archive/old.bin": b"o" * 1024}, StorageClass="GLACIER")
    return "src"


def planned(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", *args, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_plan_counts_the_objects_the_sizes_and_every_request_a_job_would_make(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the bucket WHEN its plan is asked for as JSON
    plan = planned(capsys, "--source", f"s3://{bucket}")
    # THEN every object but the archived one is to copy, the clip in four parts
    assert {k: plan[k] for k in ("source", "destination", "objects", "bytes", "largest")} == {
        "source": "s3://src/",
        "destination": None,
        "objects": 452,
        "bytes": 450 * 100 + CLIP,
        "largest": CLIP,
    }
    assert plan["archived"] == {"objects": 1, "bytes": 1024}
    assert plan["copies"] == {"single": 451, "multipart": 1, "parts": 4}
    assert (plan["batches"], plan["list_pages"]) == (3, 1)
    assert [
        (size["from"], size["below"], size["objects"], size["bytes"])
        for size in plan["sizes"]
        if size["objects"]
    ] == [(0, 1, 1, 0), (1, 1024, 450, 45_000), (16 * MiB, 64 * MiB, 1, CLIP)]
    # AND the requests are the coordinator's three batches, in one group and one send, and
    # the copies as the copier plans them
    counted = {
        f"{line['service']} {line['action']}": (line["requests"], line["billed"])
        for line in plan["requests"]
        if line["service"] in ("S3", "SQS", "DynamoDB") and "progress" not in line["action"]
    }
    assert counted == {
        "S3 ListObjectsV2": (1, 1),
        "S3 CopyObject": (451, 451),
        "S3 CreateMultipartUpload": (1, 1),
        "S3 UploadPartCopy": (4, 4),
        "S3 CompleteMultipartUpload": (1, 1),
        "S3 HeadObject (multipart source)": (1, 1),
        "SQS SendMessageBatch": (1, 1),
        "SQS ReceiveMessage": (3, 3),
        "SQS DeleteMessage": (3, 3),
        "SQS ChangeMessageVisibilityBatch": (1, 1),
        "SQS GetQueueAttributes": (1 + 2, 1 + 2),
        "DynamoDB TransactWriteItems (define batches)": (1, 8),
        "DynamoDB TransactWriteItems (count a batch)": (3, 12),
        "DynamoDB GetItem (a batch's record)": (3, 3),
        "DynamoDB job record writes": (13, 13),
    }
    # AND the floor is the listing and the copies at $0.005 a thousand
    assert plan["cost"]["floor"] == pytest.approx((1 + 451 + 1 + 4 + 1) * 0.005 / 1000)
    assert plan["prices"] == {"region": "us-east-1", "taken": "2026-12-06"}


def test_plan_times_the_copy_for_the_copiers_and_rates_given(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the logs alone, four copiers, 50 objects/s and 1 MiB/s each
    plan = planned(
        capsys,
        "--source",
        f"s3://{bucket}/logs/",
        "--dest",
        "s3://dst/backup/",
        "--copiers",
        "4",
        "--rate-objects",
        "50",
        "--rate-bytes",
        "1MiB",
    )
    # THEN 450 objects at 50/s are 9 s of copier time, shared by the three copiers that have
    # one of the three batches to copy
    assert (plan["source"], plan["destination"], plan["objects"]) == (
        "s3://src/logs/",
        "s3://dst/backup/",
        450,
    )
    assert plan["duration"] == {
        "copiers": 4,
        "copiers_busy": 3,
        "rate_objects_per_s": 50.0,
        "rate_bytes_per_s": 1.0 * MiB,
        "list_pages_per_s": 5.0,
        "listing_s": 0.2,
        "copier_s": 9.0,
        "seconds": 3.0,
    }
    # AND four copiers' time is paid for those three seconds
    fargate = {
        line["action"]: line["billed"] for line in plan["requests"] if line["service"] == "Fargate"
    }
    assert fargate["copier vCPU"] == pytest.approx(4 * 3.0 / 3600)


def test_plan_reads_the_keys_of_a_manifest_instead_of_listing_the_source(
    bucket: str, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a CSV manifest naming two of the logs (with size and ETag) and the clip
    rows = [f"{bucket},logs/{i:05d}.log,100,etag{i}" for i in (7, 8)]
    fill(s3, bucket, {"lists/keys.csv": "\n".join([*rows, f"{bucket},media/clip.mov"]).encode()})
    # WHEN the plan is asked for with the manifest
    plan = planned(
        capsys, "--source", f"s3://{bucket}", "--manifest", f"s3://{bucket}/lists/keys.csv"
    )
    # THEN only the named objects are planned, the clip's size read from the source, and no
    # LIST request is counted
    assert (plan["manifest"], plan["objects"], plan["bytes"]) == (
        "s3://src/lists/keys.csv",
        3,
        200 + CLIP,
    )
    assert (plan["copies"], plan["batches"], plan["list_pages"]) == (
        {"single": 2, "multipart": 1, "parts": 4},
        1,
        0,
    )
    listed = [line for line in plan["requests"] if line["action"] == "ListObjectsV2"]
    assert [(line["requests"], line["cost"]) for line in listed] == [(0, 0)]


def test_plan_prints_tables_a_person_reads(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN the plan is printed without --json
    assert main(["plan", "--source", f"s3://{bucket}"]) == 0
    out = capsys.readouterr().out
    # THEN it says nothing was copied, and shows the objects, sizes, requests, cost, duration
    assert out.startswith("plan for copying s3://src/: nothing was copied or sent\n")
    rows = [" ".join(line.strip("│┃ ").split()) for line in out.splitlines()]
    assert "to copy │ 452 (20.0 MiB)" in rows
    assert "archived, skipped │ 1 (1.0 KiB)" in rows
    assert "16 MiB to 64 MiB │ 1 │ 20.0 MiB" in rows
    assert "floor │ S3 │ UploadPartCopy │ 4 │ 4 requests │ <$0.0001" in rows
    assert "estimated with 2 copiers │ 2 s" in rows


def test_plan_of_a_missing_bucket_fails_with_the_reason(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a bucket that does not exist is planned
    code = main(["plan", "--source", "s3://no-such-bucket"])
    # THEN the command fails with S3's reason, and prints no plan
    captured = capsys.readouterr()
    assert (code, captured.out) == (5, "")
    assert "NoSuchBucket" in captured.err


def test_a_rate_that_is_no_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN a byte rate without a known unit is given
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--source", "s3://src", "--rate-bytes", "12zz"])
    # THEN the command exits 2 and says what a rate looks like
    assert exited.value.code == 2
    assert "'12zz' is not a rate like 200MiB or 209715200" in capsys.readouterr().err


def test_plan_help_explains_the_command_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN help is asked for
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--help"])
    # THEN it says what is counted, what the rates assume, and shows examples
    out = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    assert "100 objects/s for small objects and 200.0 MiB/s for large ones" in out
    assert "examples: s3migrator plan --source s3://old-bucket/logs/" in out
    assert "--rate-bytes SIZE" in out


def test_plan_counts_what_a_jobs_selection_would_copy_and_what_it_leaves_out(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the bucket WHEN the plan is for the logs of 100 bytes or more whose names end
    # in 0 or 5, archived objects copied too
    plan = planned(
        capsys,
        "--source",
        f"s3://{bucket}",
        "--include",
        "logs/*[05].log",
        "--min-size",
        "100",
        "--archived",
        "copy",
    )
    # THEN a job of that selection would copy 90 logs; the other 363 objects are left out by
    # the selection, nothing as archived (the archived one is left out by the pattern)
    assert (plan["objects"], plan["bytes"]) == (90, 90 * 100)
    assert plan["not_selected"] == {"objects": 360 + 3, "bytes": 360 * 100 + CLIP + 1024}
    assert plan["archived"] == {"objects": 0, "bytes": 0}
    # AND every object was still listed: one page
    assert (plan["batches"], plan["list_pages"]) == (1, 1)


def test_plan_copies_archived_objects_when_told_and_refuses_a_bad_selection(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN archived objects are to be copied THEN the archived one is among the objects
    plan = planned(capsys, "--source", f"s3://{bucket}", "--archived", "copy")
    assert (plan["objects"], plan["archived"]["objects"]) == (453, 0)
    # AND a selection a job would refuse is a usage error, said as a job's would be
    assert main(["plan", "--source", f"s3://{bucket}", "--min-size", "9", "--max-size", "1"]) == 2
    assert "min_size is larger than max_size" in capsys.readouterr().err
