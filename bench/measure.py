"""Stopwatches and CPU meters: what the bench reads of a run, from /proc and the server.

A run's objects are counted in the destination bucket at the server (moto's backend, in this
process) every few milliseconds. Steady state is the stretch between 10% and 90% of the objects
landing: it leaves out process start-up, the listing's first page and the tail where fewer
copies than threads remain. CPU is read from /proc/PID/stat (user + system, every thread) of
the client processes at those two instants, and again at the end, before they exit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")
POLL_S = 0.01
STEADY_FROM, STEADY_TO = 0.10, 0.90


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core summed."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS, sum(values[:8]) / TICKS


def own_cpu() -> float:
    """This process's CPU seconds: the moto server's (and the bench's bookkeeping)."""
    times = os.times()
    return times.user + times.system


@dataclass
class Timeline:
    """When a run's objects landed and what CPU its clients had used by then."""

    objects: int
    started: float = 0.0
    first: float | None = None
    steady_start: float | None = None
    steady_end: float | None = None
    done: float | None = None
    cpu_at_steady_start: float = 0.0
    cpu_at_steady_end: float = 0.0
    # The copiers' own share of that CPU, read at the same instants.
    share_at_steady_start: float = 0.0
    share_at_steady_end: float = 0.0
    server_cpu: list[float] = field(default_factory=list)
    machine: list[tuple[float, float]] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return (self.done or time.monotonic()) - self.started

    @property
    def steady_s(self) -> float:
        if self.steady_start is None or self.steady_end is None:
            return 0.0
        return self.steady_end - self.steady_start

    @property
    def steady_objects(self) -> int:
        return round(self.objects * STEADY_TO) - round(self.objects * STEADY_FROM)

    def steady_rate(self) -> float:
        return self.steady_objects / self.steady_s if self.steady_s else 0.0

    def steady_cpu_ms(self) -> float:
        return self._per_steady_object_ms(self.cpu_at_steady_start, self.cpu_at_steady_end)

    def steady_share_ms(self) -> float:
        return self._per_steady_object_ms(self.share_at_steady_start, self.share_at_steady_end)

    def _per_steady_object_ms(self, start_s: float, end_s: float) -> float:
        return 1000 * (end_s - start_s) / self.steady_objects if self.steady_objects else 0.0

    def as_dict(self) -> dict[str, Any]:
        busy = [b for b, _ in self.machine]
        total = [t for _, t in self.machine]
        return {
            "objects": self.objects,
            "wall_s": round(self.wall_s, 3),
            "first_object_s": round(self.first - self.started, 3) if self.first else None,
            "steady_s": round(self.steady_s, 3),
            "steady_objects_per_s": round(self.steady_rate(), 1),
            "steady_cpu_ms_per_object": round(self.steady_cpu_ms(), 3),
            "steady_share_cpu_ms_per_object": round(self.steady_share_ms(), 3),
            "server_cpu_s": round(self.server_cpu[-1] - self.server_cpu[0], 2)
            if len(self.server_cpu) > 1
            else None,
            "machine_busy_cores": round(
                (busy[-1] - busy[0]) / (total[-1] - total[0]) * (os.cpu_count() or 1), 2
            )
            if len(self.machine) > 1 and total[-1] > total[0]
            else None,
        }


class Watch:
    """Watches ``bucket`` fill at the server until it holds ``objects`` (or ``timeout_s``).

    ``cpu`` sums the CPU seconds of the run's client processes, and ``share`` those of some
    of them (a job's copiers); both are read at the steady state's two ends.
    """

    def __init__(
        self,
        count: Callable[[], int],
        objects: int,
        cpu: Callable[[], float],
        timeout_s: float = 600.0,
        share: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.count = count
        self.cpu, self.share = cpu, share
        self.timeout_s = timeout_s
        self.timeline = Timeline(objects)
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self._finished = threading.Event()

    def start(self) -> Watch:
        self.timeline.started = time.monotonic()
        self.timeline.server_cpu.append(own_cpu())
        self.timeline.machine.append(machine_busy())
        self._thread.start()
        return self

    def _run(self) -> None:
        line = self.timeline
        low = round(line.objects * STEADY_FROM)
        high = round(line.objects * STEADY_TO)
        deadline = line.started + self.timeout_s
        while time.monotonic() < deadline:
            seen = self.count()
            now = time.monotonic()
            if seen and line.first is None:
                line.first = now
            if seen >= low and line.steady_start is None:
                line.steady_start, line.cpu_at_steady_start = now, self.cpu()
                line.share_at_steady_start = self.share()
            if seen >= high and line.steady_end is None:
                line.steady_end, line.cpu_at_steady_end = now, self.cpu()
                line.share_at_steady_end = self.share()
            if seen >= line.objects:
                line.done = now
                break
            time.sleep(POLL_S)
        line.server_cpu.append(own_cpu())
        line.machine.append(machine_busy())
        self._finished.set()

    def wait(self) -> Timeline:
        """Block until every object landed; raises if they did not within the timeout."""
        self._finished.wait()
        if self.timeline.done is None:
            raise TimeoutError(
                f"only {self.count()} of {self.timeline.objects} objects"
                f" landed in {self.timeout_s:.0f}s"
            )
        return self.timeline
