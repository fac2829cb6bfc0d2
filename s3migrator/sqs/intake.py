"""Taking SQS messages only as fast as they can be worked on.

The coordinator (jobs) and the copiers (batches) share this turn of their loops: receive no more
messages than there are free slots, hold each one invisible with the heartbeat, and hand it to a
worker thread. Busy, a turn looks for more work without waiting and then waits up to a second
for a slot to free; idle, it long-polls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from s3migrator.sqs.visibility import VisibilityKeeper

BUSY_WAIT_S = 1.0


@dataclass
class Intake:
    sqs: SQSClient
    queue_url: str
    keeper: VisibilityKeeper
    pool: Executor
    handle: Callable[[MessageTypeDef, VisibilityKeeper], None]
    slots: int
    visibility_s: int
    wait_time_s: int
    attributes: Sequence[str] = ()
    message_attributes: Sequence[str] = ()
    active: set[Future[None]] = field(default_factory=set)

    def turn(self) -> int:
        """Take what free slots allow; returns how many messages were taken."""
        self.active = {f for f in self.active if not f.done()}
        free = self.slots - len(self.active)
        if free <= 0:
            wait(self.active, timeout=BUSY_WAIT_S, return_when=FIRST_COMPLETED)
            return 0
        busy = bool(self.active)
        extra: dict[str, Any] = (
            {"MessageSystemAttributeNames": list(self.attributes)} if self.attributes else {}
        )
        if self.message_attributes:
            extra["MessageAttributeNames"] = list(self.message_attributes)
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(free, 10),
            WaitTimeSeconds=0 if busy else self.wait_time_s,
            VisibilityTimeout=self.visibility_s,
            **extra,
        ).get("Messages", [])
        for message in messages:
            self.keeper.hold(message["MessageId"], message["ReceiptHandle"])
            self.active.add(self.pool.submit(self.handle, message, self.keeper))
        if busy and not messages:
            wait(self.active, timeout=BUSY_WAIT_S, return_when=FIRST_COMPLETED)
        return len(messages)
