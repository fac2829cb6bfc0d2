"""Children of the embedded stack end with it, even when it is killed without a word.

The stack starts its processes (moto, the coordinator, copiers) in sessions of their own, so a
Ctrl-C on the terminal reaches only the stack, which then stops them in order. Should the stack
itself die (SIGKILL), each child notices its parent is gone, stops as on SIGTERM, and is killed
if that takes more than a few seconds.
"""

from __future__ import annotations

import os
import signal
import threading

PARENT_VARIABLE = "S3MIGRATOR_PARENT_PID"
POLL_S = 1.0
# After SIGTERM, how long an orphan may take to stop gracefully before it is killed: with the
# stack gone (moto and its state included) there is nothing left to finish.
ORPHAN_GRACE_S = 3.0


def child_environment() -> dict[str, str]:
    """What a child needs to know to end with this process."""
    return {PARENT_VARIABLE: str(os.getpid())}


def exit_with_parent() -> None:
    """When started by the embedded stack, SIGTERM ourselves once the stack is gone."""
    parent = os.environ.get(PARENT_VARIABLE)
    if not parent or not parent.isdigit():
        return
    expected = int(parent)

    def watch() -> None:
        pause = threading.Event()
        while os.getppid() == expected:
            pause.wait(POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)
        pause.wait(ORPHAN_GRACE_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
