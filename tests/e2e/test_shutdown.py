"""SIGTERM, as ECS sends it when scaling in: stop taking work, finish or release it, exit 0."""

from __future__ import annotations

import signal
import time

import pytest

from s3migrator.sqs.queues import queue_depth
from tests.e2e.conftest import Stack
from tests.e2e.helpers import fill, small_objects

pytestmark = pytest.mark.e2e


def _start_job(stack: Stack, job_id: str, objects: int) -> None:
    assert stack.cli("deploy").returncode == 0
    fill(stack, f"{job_id}-source", small_objects(objects))
    submitted = stack.cli(
        "submit",
        "--source",
        f"s3://{job_id}-source",
        "--dest",
        f"s3://{job_id}-destination",
        "--job-id",
        job_id,
    )
    assert submitted.returncode == 0, submitted.stderr
    stack.start("coordinator", "coordinator")


def _wait_until_batches_are_held(stack: Stack) -> None:
    sqs, queue = stack.client("sqs"), stack.resources().work_queue_url
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if queue_depth(sqs, queue)[1] > 0:
            # Received is not yet begun: a moment more, and the copier's handler holds it (a
            # batch copied one object at a time lasts far longer).
            time.sleep(0.5)
            return
        time.sleep(0.02)
    raise AssertionError("the copier never took a batch")


@pytest.mark.parametrize("grace_s", ["0", "25"], ids=["released", "finished"])
def test_sigterm_stops_a_copier_cleanly_and_nothing_is_lost(stack: Stack, grace_s: str) -> None:
    # GIVEN a copier holding batches of a running job (copying one object at a time, so that
    # its batches are certainly unfinished when the signal comes)
    stack.env["S3MIGRATOR_STOP_GRACE_S"] = grace_s
    stack.env["S3MIGRATOR_COPY_CONCURRENCY"] = "1"
    _start_job(stack, "drain", 400)
    first = stack.start("copier", "copier")
    _wait_until_batches_are_held(stack)

    # WHEN it receives SIGTERM
    stopped_at = time.monotonic()
    first.send_signal(signal.SIGTERM)
    code = first.wait(timeout=60)
    took_s = time.monotonic() - stopped_at

    # THEN it exits 0 promptly: with no grace its batches are released at once, otherwise
    # finished; and another copier completes the job with exact counts
    assert code == 0, stack.dump_logs()
    assert took_s < 30
    if grace_s == "0":
        assert "unfinished batches on stop" in stack.dump_logs()
    del stack.env["S3MIGRATOR_COPY_CONCURRENCY"]
    stack.start("copier", "copier")
    status = stack.wait_for_state("drain")
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_copied"] == status["objects_total"] == 400
