"""A same-name migration end to end: submitted with the CLI, run by real coordinator and copier
processes on a moto server across two accounts and regions, its coordinator killed while the
first copy runs and the name refused four times after the source's deletion; the bucket ends
in the other account under its name with every object."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from s3migrator.migration_state import temporary_bucket
from tests.e2e.conftest import Stack
from tests.e2e.faults import FaultProxy
from tests.e2e.test_cross_account import DEST_ROLE, SOURCE_ROLE, as_role
from tests.e2e.test_migration_gates import migrate

pytestmark = pytest.mark.e2e

NAME = "acme-media"
MiB = 1024**2


@pytest.fixture
def proxy(stack: Stack) -> Iterator[FaultProxy]:
    with FaultProxy(stack.endpoint) as running:
        yield running


def test_a_bucket_migrates_under_its_name_through_a_killed_coordinator(
    stack: Stack, proxy: FaultProxy
) -> None:
    # GIVEN a bucket of account 111111111111 in eu-west-1 with small objects, one copied in
    # parts, and tags; a stack allowed both accounts that looks at a running copy every second
    # and reaches S3 through a proxy that refuses the name's creation four times, as S3 does
    # while a deletion settles (OperationAborted) and while another account holds the name
    assert stack.cli("deploy").returncode == 0
    source_s3 = as_role(stack, SOURCE_ROLE, "eu-west-1")
    source_s3.create_bucket(
        Bucket=NAME, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    objects = {f"media/{i:03d}.jpg": os.urandom(200 + i) for i in range(120)}
    objects["media/film.mp4"] = os.urandom(9 * MiB)
    for key, body in objects.items():
        source_s3.put_object(Bucket=NAME, Key=key, Body=body)
    source_s3.put_bucket_tagging(Bucket=NAME, Tagging={"TagSet": [{"Key": "team", "Value": "tv"}]})
    stack.env["S3MIGRATOR_ALLOWED_ACCOUNTS"] = "111111111111,222222222222"
    stack.env["S3MIGRATOR_MIGRATION_POLL_S"] = "1"
    # Wherever the kill lands, the job comes back within seconds: a message it held returns
    # after the jobs queue's visibility, and a resume it recorded but never sent is sent by the
    # watchdog once the resume grace has passed (300 s by default, longer than this test waits).
    stack.env["S3MIGRATOR_JOBS_VISIBILITY_S"] = "8"
    stack.env["S3MIGRATOR_RESUME_GRACE_S"] = "10"
    stack.env["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
    proxy.refuse("PUT", f"/{NAME}", 409, "OperationAborted", times=2)
    proxy.refuse("PUT", f"/{NAME}", 409, "BucketAlreadyExists", times=2)
    coordinator = stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")

    # WHEN the migration is submitted, confirming the source's deletion
    migrate(stack, NAME, "--yes-delete-source", job_id="move-media")
    # AND its coordinator is killed while the first copy runs, and another started
    killed = False
    with stack.follow("move-media") as following:
        deadline = time.monotonic() + 240
        while not following.ends_within(0.1) and time.monotonic() < deadline:
            latest = following.latest
            if not killed and latest and latest["phase"] == "copying_to_temporary":
                coordinator.send_signal(signal.SIGKILL)
                coordinator.wait()
                stack.start("coordinator", "coordinator")
                killed = True
        status = following.wait(timeout_s=30)
    seen: list[tuple[str, int]] = []
    for each in following.statuses:
        if not seen or seen[-1] != (each["phase"], each["percent"]):
            seen.append((each["phase"], each["percent"]))

    # THEN it succeeded, its percent walking the seed's table and never back
    assert status["state"] == "succeeded", (seen, stack.dump_logs())
    assert killed
    # AND the name was asked for again after each refusal, each attempt recorded
    assert proxy.counters.refused == 4
    assert status["migration"]["name_attempts"] == 4, status["migration"]
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    ranges = {
        "started": (0, 0),
        "temporary_bucket_ready": (5, 5),
        "copying_to_temporary": (5, 49),
        "deleting_source": (49, 49),
        "waiting_for_name": (49, 50),
        "destination_created": (50, 55),
        "copying_back": (55, 99),
        "removing_temporary": (99, 99),
        "finished": (100, 100),
    }
    for phase, percent in seen:
        low, high = ranges[phase]
        assert low <= percent <= high, (phase, percent, seen)
    # AND the bucket is account 222222222222's, in us-west-2, with every object and its tags
    dest_s3 = as_role(stack, DEST_ROLE, "us-west-2")
    assert dest_s3.get_bucket_location(Bucket=NAME)["LocationConstraint"] == "us-west-2"
    listed = dest_s3.list_objects_v2(Bucket=NAME)["Contents"]
    assert {o["Key"] for o in listed} == set(objects)
    for key, body in objects.items():
        assert dest_s3.get_object(Bucket=NAME, Key=key)["Body"].read() == body
    assert dest_s3.get_bucket_tagging(Bucket=NAME)["TagSet"] == [{"Key": "team", "Value": "tv"}]
    # AND neither the source account nor the temporary bucket keeps anything
    assert NAME not in {b["Name"] for b in source_s3.list_buckets()["Buckets"]}
    buckets = {b["Name"] for b in dest_s3.list_buckets()["Buckets"]}
    assert temporary_bucket(NAME, "move-media") not in buckets
