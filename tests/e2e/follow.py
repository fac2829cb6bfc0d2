"""Following a job from outside, as a user does: ``s3migrator status JOB --watch --json`` prints
a line each time the job changes, while the progress function runs every second.

Two processes for the whole wait: a ``progress`` and a ``status`` process started every second
would spend a core's worth of Python start-ups beside the processes under test.
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any


@dataclass
class Following:
    """The statuses ``status --watch --json`` printed so far, read as they come."""

    watch: subprocess.Popen[str]
    progress: subprocess.Popen[bytes]
    errors: IO[str]
    statuses: list[dict[str, Any]] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.watch.stdout is not None
        for line in self.watch.stdout:
            self.statuses.append(json.loads(line))

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.statuses[-1] if self.statuses else None

    @property
    def ended(self) -> bool:
        """Whether the watch has seen the job end (it exits then)."""
        return self.latest is not None and self.latest["state"] != "running"

    def ends_within(self, seconds: float) -> bool:
        """Whether the watch sees the job end (and exits) within ``seconds``."""
        try:
            self.watch.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """The job's last status, once the watch saw it end; every status seen in range."""
        try:
            code = self.watch.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"still running after {timeout_s}s: {self.latest}") from exc
        assert self._reader is not None
        self._reader.join(timeout=30)
        self.errors.seek(0)
        # 0 once the job succeeded, 1 once it failed or completed with failures
        assert code in (0, 1), self.errors.read()
        assert self.statuses, self.errors.read()
        assert all(0 <= status["percent"] <= 100 for status in self.statuses), self.statuses
        assert self.ended, self.latest
        return self.statuses[-1]

    def __enter__(self) -> Following:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in (self.watch, self.progress):
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)
        self.errors.close()
