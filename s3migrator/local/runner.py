"""Runs the coordinator, autoscaled copiers and the progress timer as local processes.

It plays the part ECS and EventBridge play on AWS: copier processes are started and stopped
(SIGTERM, as ECS scales in) by the same scaling policy, and the progress function runs on a timer.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from progress.report import refresh
from progress.scaling import desired_copiers
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.queues import queue_depth
from s3migrator.resources import Resources

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
    peak_copiers: int = 0
    _logs: list[IO[bytes]] = field(default_factory=list)

    def _spawn(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env, **self.resources.as_env()}
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{role}-{len(self._logs)}.log").open("wb")
            self._logs.append(out)
        command = [sys.executable, "-m", "s3migrator", "--stack", self.stack_name, role, *args]
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.coordinator = self._spawn("coordinator")
        threading.Thread(target=self._scale_loop, name="autoscaler", daemon=True).start()
        threading.Thread(target=self._progress_loop, name="progress", daemon=True).start()

    def _scale_loop(self) -> None:
        sqs = self.aws.sqs()
        while not self.stop.wait(self.scale_every_s):
            try:
                visible, in_flight = queue_depth(sqs, self.resources.work_queue_url)
            except Exception:
                log.warning("could not read queue depth", exc_info=True)
                continue
            self.scale_to(
                desired_copiers(
                    visible=visible,
                    in_flight=in_flight,
                    target_backlog_per_task=self.target_backlog_per_copier,
                    max_tasks=self.max_copiers,
                )
            )

    def scale_to(self, desired: int) -> None:
        self.copiers = [p for p in self.copiers if p.poll() is None]
        while len(self.copiers) < desired:
            self.copiers.append(self._spawn("copier"))
        for process in self.copiers[desired:]:
            process.send_signal(signal.SIGTERM)  # graceful: finishes what it holds, then exits
        self.copiers = self.copiers[:desired]
        self.peak_copiers = max(self.peak_copiers, len(self.copiers))

    def _progress_loop(self) -> None:
        store = JobStore(self.aws.dynamodb(), self.resources.table_name)
        sqs = self.aws.sqs()
        s3 = self.aws.s3()
        while not self.stop.wait(self.progress_every_s):
            try:
                refresh(store, sqs, self.resources, s3=s3)
            except Exception:
                log.warning("progress refresh failed", exc_info=True)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        self.stop.set()
        processes = [p for p in [self.coordinator, *self.copiers] if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self._logs:
            handle.close()
