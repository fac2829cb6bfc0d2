"""Runs the coordinator, autoscaled copiers and the progress timer as local processes.

It plays the part ECS and EventBridge play on AWS: copier processes are started and stopped
(SIGTERM, as ECS scales in) by the same scaling policy, a coordinator that exits is started
again, and the progress function runs on a timer. Every child runs in a session of its own (a
terminal's Ctrl-C reaches only the runner's owner, which stops them in order), is reaped when
it exits, and ends if the runner dies.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from progress.process import build_progress
from progress.scaling import desired_copiers
from s3migrator.aws import Aws
from s3migrator.aws_errors import translate
from s3migrator.cli.local.orphans import child_environment
from s3migrator.cli.local.server import LOCAL_STACK_SETTINGS
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.sqs.queues import queue_depth

log = logging.getLogger(__name__)


@dataclass
class LocalRunner:
    aws: Aws
    resources: Resources
    env: dict[str, str]
    max_copiers: int = 2
    target_backlog_per_copier: int = 2
    scale_every_s: float = 1.0
    progress_every_s: float = 2.0
    log_dir: Path | None = None
    stack_name: str = "s3migrator"
    stop: threading.Event = field(default_factory=threading.Event)
    coordinator: subprocess.Popen[bytes] | None = None
    copiers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Copiers told to stop (scale-in) that have not exited yet; reaped as they do.
    stopping: list[subprocess.Popen[bytes]] = field(default_factory=list)
    peak_copiers: int = 0
    _logs: list[IO[bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)

    def _spawn(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        env = {
            **LOCAL_STACK_SETTINGS,
            **os.environ,
            **self.env,
            **self.resources.as_env(),
            **child_environment(),
        }
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{role}-{len(self._logs)}.log").open("wb")
            self._logs.append(out)
        command = [sys.executable, "-m", "s3migrator", "--stack", self.stack_name, role, *args]
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> None:
        self.coordinator = self._spawn("coordinator")
        threading.Thread(target=self._scale_loop, name="autoscaler", daemon=True).start()
        threading.Thread(target=self._progress_loop, name="progress", daemon=True).start()

    def _scale_loop(self) -> None:
        sqs = self.aws.sqs()
        while not self.stop.wait(self.scale_every_s):
            self.restart_coordinator()
            try:
                visible, in_flight = queue_depth(sqs, self.resources.work_queue_url)
            except Exception as exc:
                log.warning("could not read queue depth: %s", translate(exc))
                continue
            self.scale_to(
                desired_copiers(
                    visible=visible,
                    in_flight=in_flight,
                    target_backlog_per_task=self.target_backlog_per_copier,
                    max_tasks=self.max_copiers,
                )
            )

    def restart_coordinator(self) -> None:
        """Start a coordinator again if it exited, as ECS restarts a service's task."""
        with self._lock:
            if self.stop.is_set() or self.coordinator is None:
                return
            code = self.coordinator.poll()
            if code is not None:
                log.warning("the coordinator exited with %s; starting another", code)
                self.coordinator = self._spawn("coordinator")

    def scale_to(self, desired: int) -> None:
        with self._lock:
            if self.stop.is_set():
                return
            self.stopping = [p for p in self.stopping if p.poll() is None]  # reaps the exited
            self.copiers = [p for p in self.copiers if p.poll() is None]
            while len(self.copiers) < desired:
                self.copiers.append(self._spawn("copier"))
            for process in self.copiers[desired:]:
                process.send_signal(signal.SIGTERM)  # graceful: finishes what it holds
                self.stopping.append(process)
            self.copiers = self.copiers[:desired]
            self.peak_copiers = max(self.peak_copiers, len(self.copiers))

    def refresh_now(self) -> None:
        """Run the progress function now rather than at its next turn, as its URL does."""
        self._wake.set()

    def _progress_loop(self) -> None:
        progress = build_progress(Settings(stack_name=self.stack_name), self.aws, self.resources)
        while True:
            self._wake.wait(self.progress_every_s)
            self._wake.clear()
            if self.stop.is_set():
                return
            try:
                progress.refresh()
            except Exception as exc:
                log.warning("progress refresh failed: %s", translate(exc))

    def shutdown(self, timeout_s: float = 3.0) -> None:
        """Stop every child: SIGTERM, up to ``timeout_s`` to finish, then SIGKILL; reap all."""
        with self._lock:
            self.stop.set()
            self._wake.set()
            processes = [
                p for p in [self.coordinator, *self.copiers, *self.stopping] if p is not None
            ]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self._logs:
            handle.close()
