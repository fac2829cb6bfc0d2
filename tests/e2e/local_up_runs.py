"""`s3migrator local up` run in the foreground of a session of its own, as a terminal runs it.

``LocalUp`` follows its output, records every process it starts (children seen while it runs,
any process carrying its pid in ``S3MIGRATOR_PARENT_PID``, moto on its port) and cleans all of
them up whatever a test did; ``running_local_up`` starts one.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3migrator.cli.local.server import free_port, local_env
from tests.e2e.conftest import BIN, endpoint_client
from tests.e2e.processes import (
    POLL_S,
    Proc,
    Subreaper,
    all_processes,
    has_exited,
    reap,
    started_by,
    still_there,
    wait_until,
)

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0


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
        return endpoint_client(self.endpoint, service)

    def submit_and_wait(self, source: str, destination: str) -> subprocess.CompletedProcess[str]:
        """``s3migrator submit --wait`` against this stack, as a user in another shell."""
        return subprocess.run(
            [
                str(BIN / "s3migrator"),
                "submit",
                "--source",
                source,
                "--dest",
                destination,
                "--wait",
                "--interval",
                "0.5",
            ],
            env=self.client_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
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


@contextmanager
def running_local_up(tmp_path: Path) -> Iterator[LocalUp]:
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
