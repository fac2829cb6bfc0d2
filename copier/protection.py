"""ECS task scale-in protection while a copier holds batches.

When backlog falls, ECS scales the copier service in by stopping tasks; a task protected from
scale-in is left alone. A copier protects itself while it holds batches and lifts the protection
once it holds none, through the ECS agent's endpoint (``$ECS_AGENT_URI``, present only on ECS),
so scale-in stops idle copiers rather than busy ones. Off ECS this does nothing.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# How long one protection lasts; renewed at half of it while the copier stays busy.
PROTECTION_MINUTES = 60


def _put(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


@dataclass
class TaskProtection:
    agent_uri: str | None
    minutes: int = PROTECTION_MINUTES
    clock: Callable[[], float] = time.monotonic
    send: Callable[[str, dict[str, object]], None] = _put
    _protected: bool = False
    _since: float = 0.0

    def update(self, busy: bool) -> None:
        """Protect the task while ``busy``, renew before the protection runs out, lift it when
        idle; an agent that cannot be reached only costs a log line."""
        if self.agent_uri is None:
            return
        now = self.clock()
        renew = busy and self._protected and now - self._since > self.minutes * 30
        if busy == self._protected and not renew:
            return
        body: dict[str, object] = {"ProtectionEnabled": busy}
        if busy:
            body["ExpiresInMinutes"] = self.minutes
        try:
            self.send(f"{self.agent_uri}/task-protection/v1/state", body)
        except (OSError, urllib.error.URLError) as exc:
            log.warning("could not set the task's scale-in protection: %s", exc)
            return
        self._protected, self._since = busy, now
