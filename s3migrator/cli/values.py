"""Option values checked where argparse reads them, so a bad one is a one-line usage error."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _number(
    kind: Callable[[str], float], low: float, high: float, what: str
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


# Seconds between refreshes: more than nothing, at most a day.
interval_s = _number(float, 0.01, 86_400, "a number of seconds between 0.01 and 86400")
# Seconds that may be zero (exit as soon as there is no work).
seconds = _number(float, 0, 86_400 * 365, "a number of seconds, 0 or more")
count = _number(int, 1, 10_000_000, "a whole number, 1 or more")
port = _number(int, 1, 65_535, "a port number from 1 to 65535")
