"""Processes as /proc shows them, for the tests of what `local up` starts and stops.

A process is named by its pid and start time, so a reused pid is never mistaken for it. The
test process can make itself a child subreaper, so orphans become its children: their exit can
be seen (a zombie counts as still there until reaped) and they can be cleaned up.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from s3migrator.cli.local.orphans import PARENT_VARIABLE

MOTO_MODULE = "s3migrator.cli.local.motoserver"
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
POLL_S = 0.1


@dataclass(frozen=True)
class Proc:
    """One process; ``pid`` with ``start_ticks`` names it even after its pid is reused."""

    pid: int
    ppid: int
    state: str
    start_ticks: int
    command: str = ""

    @property
    def identity(self) -> tuple[int, int]:
        return (self.pid, self.start_ticks)

    def __str__(self) -> str:
        return f"pid {self.pid} (state {self.state}, parent {self.ppid}): {self.command!r}"


def _read(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # gone, or someone else's
    except OSError:
        return None


def stat_of(pid: int) -> Proc | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    text = raw.decode(errors="replace")
    # the command name may hold spaces and parentheses: the fields follow its last ')'
    fields = text[text.rindex(")") + 2 :].split()
    command = (_read(f"/proc/{pid}/cmdline") or b"").replace(b"\0", b" ").decode(errors="replace")
    return Proc(pid, int(fields[1]), fields[0], int(fields[19]), command.strip())


def all_processes() -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := stat_of(int(entry.name))) is not None:
            found.append(proc)
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = _read(f"/proc/{pid}/environ") or b""
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0"))
    return {key: value for key, _, value in pairs if key}


def carries_parent(pid: int, parent_pid: int) -> bool:
    return environ_of(pid).get(PARENT_VARIABLE) == str(parent_pid)


def is_moto_on(proc: Proc, port: int) -> bool:
    words = proc.command.split()
    ports = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "-p"}
    return MOTO_MODULE in proc.command and str(port) in ports


def started_by(up_pid: int, port: int, *, up_alive: bool) -> list[Proc]:
    """Processes now present that ``local up`` started: its children (while it lives: its pid
    means nothing once it is reaped), those carrying its pid as parent, moto on its port."""
    return [
        proc
        for proc in all_processes()
        if proc.pid != up_pid
        and (
            (up_alive and proc.ppid == up_pid)
            or carries_parent(proc.pid, up_pid)
            or is_moto_on(proc, port)
        )
    ]


def still_there(proc: Proc) -> Proc | None:
    """The same process now (alive or zombie), None once it is gone."""
    now = stat_of(proc.pid)
    return now if now is not None and now.start_ticks == proc.start_ticks else None


def has_exited(proc: Proc) -> bool:
    now = still_there(proc)
    return now is None or now.state == "Z"


def reap(proc: Proc, timeout_s: float = 5.0) -> None:
    """Collect an exited process that became ours (we are a subreaper); others are not ours.

    A multi-threaded process shows its leader as a zombie while its other threads still exit;
    it can be collected only once they have, so this waits a little for that.
    """
    deadline = time.monotonic() + timeout_s
    while still_there(proc) is not None and time.monotonic() < deadline:
        try:
            if os.waitpid(proc.pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:
            return
        time.sleep(POLL_S / 10)


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


class Subreaper:
    """Makes this process the reaper of orphaned descendants while in use (Linux prctl)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        self._libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(previous), 0, 0, 0)
        self._previous = previous.value

    def __enter__(self) -> Subreaper:
        assert self._libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, ctypes.get_errno()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._libc.prctl(PR_SET_CHILD_SUBREAPER, self._previous, 0, 0, 0)
