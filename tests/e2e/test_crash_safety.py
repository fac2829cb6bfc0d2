"""Any process can be killed at any moment: the job still ends with every object, counted once."""

from __future__ import annotations

import random
import signal
import time

import pytest

from coordinator.verify import verify
from s3migrator.job_status import JobStatus
from s3migrator.models import JobState, Location
from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, send_with_aws_cli, small_objects

pytestmark = pytest.mark.e2e

OBJECTS = 2000


def test_job_survives_copiers_killed_every_few_seconds_and_a_coordinator_killed_while_listing(
    stack: Stack,
) -> None:
    # GIVEN short visibility timeouts and leases, so killed work comes back within seconds, and
    # small batches, so the listing takes long enough to be killed in the middle
    stack.env.update(
        {
            "S3MIGRATOR_BATCH_MAX_KEYS": "5",
            "S3MIGRATOR_WORK_VISIBILITY_S": "8",
            "S3MIGRATOR_JOBS_VISIBILITY_S": "6",
            "S3MIGRATOR_LEASE_S": "6",
        }
    )
    assert stack.cli("deploy").returncode == 0
    objects = small_objects(OBJECTS)
    fill(stack, "chaos-source", objects)
    send_with_aws_cli(
        stack,
        {
            "job_id": "chaos",
            "mode": "copy",
            "source": {"bucket": "chaos-source"},
            "destination": {"bucket": "chaos-destination"},
        },
    )
    store = stack.store()

    # WHEN the coordinator is killed (SIGKILL) once the listing is under way, then restarted,
    coordinator = stack.start("coordinator", "coordinator")
    copiers = [stack.start("copier", "copier") for _ in range(2)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = store.get_job("chaos")
        if record is not None and record.listing.objects > 0:
            break
        time.sleep(0.02)
    assert record is not None and not record.listing.complete, "listing ended before the kill"
    coordinator.send_signal(signal.SIGKILL)
    killed_at_objects = record.listing.objects
    stack.start("coordinator", "coordinator")

    # AND a copier is killed every 5 s and replaced, until the job ends
    rng = random.Random(3)
    kills = 0
    with stack.follow("chaos") as following:
        deadline = time.monotonic() + 420
        while not following.ends_within(5) and time.monotonic() < deadline:
            victim = copiers.pop(rng.randrange(len(copiers)))
            victim.send_signal(signal.SIGKILL)
            kills += 1
            copiers.append(stack.start("copier", "copier"))
        status = JobStatus.model_validate(following.wait(timeout_s=30))

    # THEN the job succeeded with every object copied and counted exactly once
    assert status.state is JobState.SUCCEEDED, stack.dump_logs()
    assert 0 < killed_at_objects < OBJECTS
    assert kills >= 3
    assert status.percent == 100
    assert status.objects_total == OBJECTS
    assert status.objects_copied == OBJECTS
    assert status.objects_failed == 0
    assert status.bytes_copied == sum(len(body) for body in objects.values())
    report = verify(
        stack.client("s3"), Location(bucket="chaos-source"), Location(bucket="chaos-destination")
    )
    assert report.ok, report
    assert report.objects == OBJECTS
