"""Visibility heartbeat: keeps held SQS messages invisible while their work goes on.

A message's visibility timeout is kept short (so a killed process's work comes back soon) and
extended every third of it while a live process still holds the message.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from s3migrator.aws_errors import PROVIDER_ERRORS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)


class VisibilityKeeper:
    """Extends the visibility of every registered receipt handle until it is released."""

    def __init__(self, sqs: SQSClient, queue_url: str, visibility_s: int) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._visibility_s = visibility_s
        self._held: dict[str, str] = {}  # message id -> receipt handle
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def __enter__(self) -> VisibilityKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def hold(self, message_id: str, receipt_handle: str) -> None:
        with self._lock:
            self._held[message_id] = receipt_handle

    def release(self, message_id: str) -> None:
        with self._lock:
            self._held.pop(message_id, None)

    def release_all(self) -> int:
        """Make every held message visible again at once, for another process to take."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for receipt in held:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
            except PROVIDER_ERRORS:
                log.warning("could not release a message; it returns after its timeout")
        return len(held)

    def _run(self) -> None:
        interval = max(1.0, self._visibility_s / 3)
        while not self._stop.wait(interval):
            with self._lock:
                held = list(self._held.items())
            for start in range(0, len(held), 10):
                entries = [
                    {
                        "Id": str(i),
                        "ReceiptHandle": receipt,
                        "VisibilityTimeout": self._visibility_s,
                    }
                    for i, (_, receipt) in enumerate(held[start : start + 10])
                ]
                try:
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self._queue_url,
                        Entries=entries,  # type: ignore[arg-type]
                    )
                except PROVIDER_ERRORS:
                    # A missed beat only risks a redelivery, which counting tolerates.
                    log.warning("visibility heartbeat failed", exc_info=True)
