"""What ``s3migrator local up`` promises, checked on the real command in a process group of its own.

It refuses a port already in use, stops everything it started on SIGTERM or Ctrl-C, reaps the
copiers its autoscaler stops while it runs, and, killed without a word, its children notice and
exit on their own. "Everything it started" is read from /proc: its children (seen while it ran),
any process carrying its pid in ``S3MIGRATOR_PARENT_PID``, and any moto server on its port.

The test process makes itself a child subreaper for each test, so processes orphaned by
``local up`` become its children rather than init's: their exit can be seen (a zombie counts as
still there until reaped) and they can be cleaned up whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3migrator.cli.local.server import port_in_use
from tests.e2e.local_up_runs import (
    HOST,
    READY_TIMEOUT_S,
    LocalUp,
    base_env,
    describe,
    running_local_up,
    up_command,
)
from tests.e2e.processes import (
    Proc,
    all_processes,
    carries_parent,
    has_exited,
    is_moto_on,
    reap,
    still_there,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[LocalUp]:
    """``s3migrator local up --port PORT`` serving in a session (and process group) of its own."""
    with running_local_up(tmp_path) as up:
        yield up


# --- the promises -----------------------------------------------------------------------------


def test_second_local_up_on_the_same_port_is_refused_at_once_and_the_first_keeps_serving(
    local_up: LocalUp, tmp_path: Path
) -> None:
    # GIVEN `local up` serving on a port
    assert port_in_use(HOST, local_up.port)

    # WHEN a second `local up` is started on the same port
    started = time.monotonic()
    second = subprocess.Popen(
        up_command(local_up.port),
        env=base_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = second.communicate(timeout=READY_TIMEOUT_S)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()
    took_s = time.monotonic() - started

    # THEN it is refused at once with exit code 3, saying the port is in use, and starts nothing
    assert second.returncode == 3, stdout + stderr
    assert f"error: port {local_up.port} on {HOST} is in use" in stderr
    assert "embedded stack up" not in stdout
    assert took_s < 10, f"refused only after {took_s:.1f}s"
    assert [p for p in all_processes() if carries_parent(p.pid, second.pid)] == []
    # AND the first one keeps serving
    assert local_up.process.poll() is None, local_up.stderr()
    attributes = local_up.client("sqs").get_queue_attributes(
        QueueUrl=local_up.jobs_queue_url, AttributeNames=["QueueArn"]
    )
    assert attributes["Attributes"]["QueueArn"].endswith(local_up.jobs_queue_url.rsplit("/", 1)[1])
    stacks = local_up.client("cloudformation").describe_stacks(StackName="s3migrator")["Stacks"]
    assert [stack["StackStatus"] for stack in stacks] == ["CREATE_COMPLETE"]


def _assert_running_stack(up: LocalUp) -> None:
    commands = [proc.command for proc in up.children()]
    assert any(is_moto_on(proc, up.port) for proc in up.children()), commands
    assert any(command.endswith(" coordinator") for command in commands), commands


def test_sigterm_stops_every_process_it_started_within_seconds(local_up: LocalUp) -> None:
    # GIVEN `local up` serving, with its moto server and coordinator running
    _assert_running_stack(local_up)

    # WHEN it receives SIGTERM
    local_up.process.send_signal(signal.SIGTERM)
    code = local_up.process.wait(timeout=20)

    # THEN it exits 0, and nothing it started remains (not even a zombie), and the port is free
    assert code == 0, local_up.stderr()
    assert local_up.leftovers() == [], describe(local_up.leftovers())
    assert not port_in_use(HOST, local_up.port)
    assert local_up.output().rstrip().endswith("stopped")


def test_ctrl_c_on_its_terminal_stops_every_process_it_started_without_a_traceback(
    local_up: LocalUp,
) -> None:
    # GIVEN `local up` serving in the foreground process group of a terminal
    _assert_running_stack(local_up)

    # WHEN Ctrl-C sends SIGINT to the whole foreground group
    os.killpg(os.getpgid(local_up.pid), signal.SIGINT)
    code = local_up.process.wait(timeout=20)

    # THEN it exits 130 (interrupted) without a traceback, nothing it started remains, and the
    # port is free
    assert code == 130, local_up.stderr()
    assert "Traceback" not in local_up.stderr(), local_up.stderr()
    assert local_up.leftovers() == [], describe(local_up.leftovers())
    assert not port_in_use(HOST, local_up.port)
    assert local_up.output().rstrip().endswith("stopped")


def test_copiers_stopped_by_scale_in_are_reaped_while_it_runs(local_up: LocalUp) -> None:
    # GIVEN `local up` serving and a source bucket with a few objects
    s3 = local_up.client("s3")
    s3.create_bucket(Bucket="up-source")
    for i in range(5):
        s3.put_object(Bucket="up-source", Key=f"small/{i}.txt", Body=f"object {i}".encode())

    # WHEN a copy job is submitted and runs to its end
    submitted = local_up.submit_and_wait("s3://up-source", "s3://up-destination")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert submitted.stdout.splitlines()[0].strip()  # the job id
    copied = s3.list_objects_v2(Bucket="up-destination").get("Contents", [])
    assert sorted(o["Key"] for o in copied) == [f"small/{i}.txt" for i in range(5)]
    copiers = [p for p in local_up.tracker.tracked() if p.command.endswith(" copier")]
    assert copiers, "the job was copied by copiers that `local up` started"

    # AND the autoscaler scales them in once the queue is empty (SIGTERM, a graceful exit)
    def copiers_running() -> list[Proc]:
        return [p for p in local_up.children() if p.command.endswith(" copier")]

    assert wait_until(lambda: not copiers_running(), 20), describe(copiers_running())

    # THEN no copier it stopped lingers as a zombie child: each is reaped within a scaling tick
    def zombies() -> list[Proc]:
        return [p for p in local_up.children() if p.state == "Z"]

    assert wait_until(lambda: not zombies(), 3), describe(zombies())
    assert local_up.process.poll() is None, local_up.stderr()
    assert all(still_there(copier) is None for copier in copiers), describe(copiers)


def test_children_exit_on_their_own_when_local_up_is_killed(local_up: LocalUp) -> None:
    # GIVEN `local up` serving, with its moto server and coordinator running
    _assert_running_stack(local_up)
    children = local_up.children()
    local_up.tracker.scan()

    # WHEN it is killed without a chance to stop anything
    os.kill(local_up.pid, signal.SIGKILL)
    assert local_up.process.wait(timeout=10) == -signal.SIGKILL

    # THEN each of its children notices and exits on its own within 10 s
    orphans = local_up.tracker.tracked()
    assert {p.identity for p in children} <= {p.identity for p in orphans}
    assert wait_until(lambda: all(has_exited(p) for p in orphans), 10), describe(
        [p for p in map(still_there, orphans) if p is not None]
    )
    for orphan in orphans:
        reap(orphan)  # they became this process's children (subreaper); init reaps them otherwise
    assert [p for p in all_processes() if carries_parent(p.pid, local_up.pid)] == []
    assert local_up.leftovers() == [], describe(local_up.leftovers())
    # AND the port is free again
    assert wait_until(lambda: not port_in_use(HOST, local_up.port), 5)
