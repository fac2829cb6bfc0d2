"""`local up` plays ECS's part when a process dies: a coordinator is started again, and a moto
server that goes away stops the whole stack with the reason, rather than a stack that hangs."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.local_up_runs import LocalUp, describe, running_local_up
from tests.e2e.processes import Proc, is_moto_on, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[LocalUp]:
    with running_local_up(tmp_path) as up:
        yield up


def coordinators(up: LocalUp) -> list[Proc]:
    return [p for p in up.children() if p.command.endswith(" coordinator") and p.state != "Z"]


def test_a_coordinator_that_dies_is_started_again_and_jobs_still_run(local_up: LocalUp) -> None:
    # GIVEN `local up` serving, and its coordinator killed without a word
    assert wait_until(lambda: len(coordinators(local_up)) == 1, 10)
    (first,) = coordinators(local_up)
    os.kill(first.pid, signal.SIGKILL)
    # WHEN a moment passes
    restarted = wait_until(
        lambda: [p.pid for p in coordinators(local_up)] not in ([], [first.pid]), 10
    )
    # THEN another coordinator runs in its place, and a job sent now is copied to the end
    assert restarted, describe(local_up.children())
    s3 = local_up.client("s3")
    s3.create_bucket(Bucket="again-source")
    s3.put_object(Bucket="again-source", Key="k", Body=b"still copied")
    submitted = local_up.submit_and_wait("s3://again-source", "s3://again-destination")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    body = s3.get_object(Bucket="again-destination", Key="k")["Body"].read()
    assert body == b"still copied"
    assert "the coordinator exited with -9; starting another" in local_up.stderr()


def test_a_moto_server_that_dies_stops_the_stack_with_the_reason(local_up: LocalUp) -> None:
    # GIVEN `local up` serving WHEN its moto server is killed
    (moto,) = [p for p in local_up.children() if is_moto_on(p, local_up.port)]
    os.kill(moto.pid, signal.SIGKILL)
    # THEN it stops everything within seconds, exits 1 and says what happened
    code = local_up.process.wait(timeout=20)
    assert code == 1, local_up.output() + local_up.stderr()
    assert "the moto server stopped" in local_up.output()
    assert local_up.output().rstrip().endswith("stopped")
    assert local_up.leftovers() == [], describe(local_up.leftovers())
