"""Stopping a long-running process gracefully: ECS sends SIGTERM before it stops a task."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT; the process then finishes or releases held work."""

    def handler(signum: int, _frame: object) -> None:
        log.info("received signal %d; stopping after the work in hand", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
