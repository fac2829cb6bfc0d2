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

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3migrator.cli.local.server import free_port, local_env, port_in_use
from tests.e2e.conftest import BIN
from tests.e2e.processes import (
    POLL_S,
    Proc,
    Subreaper,
    all_processes,
    carries_parent,
    has_exited,
    is_moto_on,
    reap,
    started_by,
    still_there,
    wait_until,
)

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0


# --- `local up` in the foreground -----------------------------------------------------------


def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: no AWS or s3migrator settings, no AWS config or credentials files."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "S3MIGRATOR_"))
    }
    env.update(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def up_command(port: int) -> list[str]:
    return [str(BIN / "s3migrator"), "local", "up", "--port", str(port)]


@dataclass
class Tracker:
    """Records, every POLL_S, each process a ``local up`` has started, even short-lived ones."""

    process: subprocess.Popen[str]
    port: int
    seen: dict[tuple[int, int], Proc] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def scan(self) -> list[Proc]:
        alive = self.process.poll() is None
        current = started_by(self.process.pid, self.port, up_alive=alive)
        with self._lock:
            for proc in current:
                self.seen.setdefault(proc.identity, proc)
        return current

    def tracked(self) -> list[Proc]:
        with self._lock:
            return list(self.seen.values())

    def run(self) -> None:
        while not self.stop.is_set():
            self.scan()
            self.stop.wait(POLL_S)


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    port: int
    client_env: dict[str, str]
    stderr_path: Path
    tracker: Tracker
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)
    jobs_queue_url: str = ""
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start_reading(self) -> None:
        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.put(line)
            self.lines.put(None)

        self._reader = threading.Thread(target=read, name="local-up-stdout", daemon=True)
        self._reader.start()

    def wait_for_line(self, prefix: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(
            f"no line starting with {prefix!r} from `local up` within {timeout_s}s"
            f" (exit code {self.process.poll()})\nstdout:\n{''.join(self.stdout)}"
            f"stderr:\n{self.stderr()}"
        )

    def output(self) -> str:
        """All of stdout, once the process has exited."""
        if self._reader is not None:
            self._reader.join(timeout=10)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.stdout.append(line)
        return "".join(self.stdout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def children(self) -> list[Proc]:
        return [proc for proc in all_processes() if proc.ppid == self.pid]

    def leftovers(self) -> list[Proc]:
        """Every process it started that still exists in any state, zombies included."""
        remaining = {proc.identity: proc for proc in self.tracker.scan()}
        for proc in self.tracker.tracked():
            if (now := still_there(proc)) is not None:
                remaining[now.identity] = now
        return sorted(remaining.values(), key=lambda proc: proc.pid)


def stop_and_clean_up(up: LocalUp) -> None:
    """Whatever state a test left: stop ``local up``, then kill and reap all it started."""
    if up.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(up.pid, signal.SIGTERM)
        try:
            up.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(up.pid, signal.SIGKILL)
            up.process.wait()
    up.tracker.stop.set()
    up.output()
    if up.process.stdout is not None:
        up.process.stdout.close()
    for proc in up.leftovers():
        if proc.state != "Z":
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
    wait_until(lambda: all(has_exited(proc) for proc in up.leftovers()), 10)
    for proc in up.leftovers():
        reap(proc)


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[LocalUp]:
    """``s3migrator local up --port PORT`` serving in a session (and process group) of its own."""
    port = free_port()
    env = base_env(tmp_path)
    stderr_path = tmp_path / "local-up.stderr"
    with Subreaper(), stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            up_command(port),
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        tracker = Tracker(process, port)
        up = LocalUp(
            process, port, {**env, **local_env(f"http://{HOST}:{port}")}, stderr_path, tracker
        )
        threading.Thread(target=tracker.run, name="tracker", daemon=True).start()
        up.start_reading()
        try:
            ready = up.wait_for_line("jobs queue:", READY_TIMEOUT_S)
            up.jobs_queue_url = ready.split(":", 1)[1].strip()
            yield up
        finally:
            stop_and_clean_up(up)


def describe(processes: list[Proc]) -> str:
    return "\n".join(str(proc) for proc in processes) or "none"


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

    # THEN it exits 0 without a traceback, nothing it started remains, and the port is free
    assert code == 0, local_up.stderr()
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
    submitted = subprocess.run(
        [
            str(BIN / "s3migrator"),
            "submit",
            "--source",
            "s3://up-source",
            "--dest",
            "s3://up-destination",
            "--wait",
        ],
        env=local_up.client_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
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
