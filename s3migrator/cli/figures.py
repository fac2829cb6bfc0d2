"""Numbers for people: sizes, durations, rates and time left (pure functions).

Example: ``human_bytes(1_300_000_000_000)`` is ``"1.2 TiB"``; ``human_duration(11_400)`` is
``"3 h 10 min"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


@dataclass(frozen=True)
class Sample:
    """How far a job was at one moment."""

    at_s: float
    objects: int
    bytes: int


@dataclass(frozen=True)
class Rate:
    objects_per_s: float
    bytes_per_s: float


def human_bytes(count: float) -> str:
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def rate(samples: Sequence[Sample]) -> Rate | None:
    """The rate between the first and the last sample; None until time has passed."""
    if len(samples) < 2 or samples[-1].at_s <= samples[0].at_s:
        return None
    elapsed = samples[-1].at_s - samples[0].at_s
    return Rate(
        objects_per_s=max(0, samples[-1].objects - samples[0].objects) / elapsed,
        bytes_per_s=max(0, samples[-1].bytes - samples[0].bytes) / elapsed,
    )


def seconds_left(
    remaining_objects: int, remaining_bytes: int, current: Rate | None
) -> float | None:
    """Time left at the current rate: by bytes when bytes move, else by objects; None if stalled."""
    if current is None:
        return None
    if remaining_bytes > 0 and current.bytes_per_s > 0:
        return remaining_bytes / current.bytes_per_s
    if remaining_objects > 0 and current.objects_per_s > 0:
        return remaining_objects / current.objects_per_s
    return 0.0 if remaining_objects <= 0 else None


def human_rate(current: Rate | None) -> str:
    if current is None:
        return "-"
    return f"{current.objects_per_s:.1f}/s, {human_bytes(current.bytes_per_s)}/s"
