"""Faults on the wire and objects that cannot be copied: retried, reported, redriven."""

from __future__ import annotations

import csv
import io
import os
import time

import pytest

from coordinator.verify import verify
from s3migrator.models import Location
from tests.e2e.conftest import Stack
from tests.e2e.faults import FaultProxy, service_is
from tests.e2e.helpers import fill, send_with_aws_cli, small_objects

pytestmark = pytest.mark.e2e

MiB = 1024**2


def test_job_succeeds_with_a_fifth_of_s3_requests_answered_slowdown(stack: Stack) -> None:
    # GIVEN S3 reached through a proxy that answers 20% of requests 503 SlowDown
    # (AWS_ENDPOINT_URL_S3 sends only S3 there; SQS and DynamoDB go straight to the stack)
    assert stack.cli("deploy").returncode == 0
    objects = small_objects(300)
    objects["big/multipart.bin"] = os.urandom(11 * MiB)
    fill(stack, "flaky-source", objects)
    with FaultProxy(
        stack.endpoint, seed=11, slowdown_fraction=0.2, match=service_is("s3")
    ) as proxy:
        stack.env["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
        send_with_aws_cli(
            stack,
            {
                "job_id": "flaky",
                "mode": "copy",
                "source": {"bucket": "flaky-source"},
                "destination": {"bucket": "flaky-destination"},
            },
        )
        stack.start("coordinator", "coordinator")
        stack.start("copier", "copier")
        stack.start("copier", "copier")

        # WHEN the job runs through the faults
        status = stack.wait_for_state("flaky", timeout_s=300)
        counters = proxy.counters

    # THEN it succeeded with exact counts, after many injected SlowDowns
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_copied"] == status["objects_total"] == len(objects)
    assert status["objects_failed"] == 0
    assert counters.slowdowns > 0.1 * counters.requests
    report = verify(
        stack.client("s3"), Location(bucket="flaky-source"), Location(bucket="flaky-destination")
    )
    assert report.ok, report


def test_deleted_archived_and_denied_objects_are_reported_then_redriven_once_fixed(
    stack: Stack, tmp_path
) -> None:
    # GIVEN a source with an archived object, an object the copiers may not read, and one that
    # will be deleted after the listing; copiers reach S3 through a proxy that denies "secret/"
    assert stack.cli("deploy").returncode == 0
    s3 = stack.client("s3")
    objects = small_objects(100)
    objects["doomed/gone.bin"] = b"deleted after listing"
    objects["secret/hidden.bin"] = b"access denied"
    fill(stack, "troubled-source", objects)
    s3.put_object(
        Bucket="troubled-source", Key="archive/cold.bin", Body=b"frozen", StorageClass="GLACIER"
    )
    objects["archive/cold.bin"] = b"frozen"
    s3.create_bucket(Bucket="reports")
    submitted = stack.cli(
        "submit",
        "--source",
        "s3://troubled-source",
        "--dest",
        "s3://troubled-destination",
        "--job-id",
        "troubled",
        "--report",
        "s3://reports/runs/",
        # Tried and reported, to be redriven once restored (by default it would be skipped).
        "--archived",
        "copy",
    )
    assert submitted.returncode == 0, submitted.stderr
    stack.start("coordinator", "coordinator")
    store = stack.store()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = store.get_job("troubled")
        if record is not None and record.listing.complete:
            break
        time.sleep(0.2)
    s3.delete_object(Bucket="troubled-source", Key="doomed/gone.bin")

    with FaultProxy(stack.endpoint, match=service_is("s3")) as proxy:
        proxy.deny("secret/")
        stack.env["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
        copiers = [stack.start("copier", "copier") for _ in range(2)]

        # WHEN the job runs
        status = stack.wait_for_state("troubled")

        # THEN it completed with exactly those three failures, each with its code
        assert status["state"] == "completed_with_failures", stack.dump_logs()
        assert status["percent"] == 100
        assert status["objects_total"] == len(objects)
        assert status["objects_copied"] == len(objects) - 3
        assert status["objects_failed"] == 3
        assert {f["key"] for f in status["first_failures"]} == {
            "doomed/gone.bin",
            "secret/hidden.bin",
            "archive/cold.bin",
        }
        out = tmp_path / "report.csv"
        reported = stack.cli("report", "troubled", "--csv", str(out))
        assert reported.returncode == 0, reported.stderr
        rows = {row["Key"]: row for row in csv.DictReader(out.open())}
        assert set(rows) == {"doomed/gone.bin", "secret/hidden.bin", "archive/cold.bin"}
        assert rows["doomed/gone.bin"]["ErrorCode"] == "NoSuchKey"
        assert rows["doomed/gone.bin"]["HTTPStatusCode"] == "404"
        assert rows["secret/hidden.bin"]["ErrorCode"] == "AccessDenied"
        assert rows["secret/hidden.bin"]["HTTPStatusCode"] == "403"
        assert rows["archive/cold.bin"]["ErrorCode"] in {
            "InvalidObjectState",
            "ObjectNotInActiveTierError",
        }
        assert {row["TaskStatus"] for row in rows.values()} == {"failed"}
        assert all(row["Bucket"] == "troubled-source" for row in rows.values())
        # AND the same report was written to the job's report location, by the coordinator
        # once the job had finished
        deadline = time.monotonic() + 60
        while (written := stack.status("troubled")) and written["report"] == "pending":
            assert time.monotonic() < deadline, stack.dump_logs()
            time.sleep(0.5)
        assert written["report"] == "s3://reports/runs/troubled/failures.csv"
        body = s3.get_object(Bucket="reports", Key="runs/troubled/failures.csv")["Body"].read()
        assert {r["Key"] for r in csv.DictReader(io.StringIO(body.decode()))} == set(rows)

        # WHEN the causes are fixed and the job is redriven
        proxy.allow("secret/")
        s3.restore_object(
            Bucket="troubled-source", Key="archive/cold.bin", RestoreRequest={"Days": 1}
        )
        s3.put_object(
            Bucket="troubled-source", Key="doomed/gone.bin", Body=objects["doomed/gone.bin"]
        )
        stack.start_progress()
        redriven = stack.cli("redrive", "troubled", "--wait", timeout_s=240)

        # THEN the job succeeded: failed went down, copied went up, exactly
        assert redriven.returncode == 0, redriven.stdout + redriven.stderr + stack.dump_logs()
        final = stack.status("troubled")
        assert final is not None
        assert final["state"] == "succeeded"
        assert final["objects_copied"] == final["objects_total"] == len(objects)
        assert final["objects_failed"] == 0
        assert final["percent"] == 100
        assert all(p.poll() is None for p in copiers)
    report = verify(s3, Location(bucket="troubled-source"), Location(bucket="troubled-destination"))
    assert report.ok, report
