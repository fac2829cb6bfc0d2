"""A fake SQS client that behaves like SQS at its worst, for seeded schedule tests.

``FakeSQS`` stands in for a boto3 SQS client (same keyword arguments, same response shapes) for
the calls the product makes. Every random choice comes from one seeded ``random.Random`` and
every time from an injected clock, so a failing schedule replays from its seed. Receives take
visible messages in random order, as a standard queue does; the adversarial knobs (see FakeSQS)
add duplicate deliveries, lost visibility, lost deletes and empty long polls. Nothing sleeps.
"""

# ruff: noqa: N803 -- the calls take boto3's argument names

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

RETENTION_S = 14 * 24 * 3600  # SQS's longest retention period
SENDER_ID = "AIDASCHEDULEDCLIENT01"  # every message's: the one client of the world
MAX_BODY_BYTES = 256 * 1024
MAX_VISIBILITY_S = 43_200  # also the cap on a message's time in flight since its receive
MAX_DELAY_S = 900
MAX_BATCH = 10
URL_PREFIX = "https://sqs.us-east-1.amazonaws.com/123456789012/"
# Anything but #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
_INVALID_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_IN_FLIGHT = "Reason: Message does not exist or is not available for visibility timeout change."
_IN_FLIGHT_TOO_LONG = "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
_METADATA = {"RequestId": "fake", "HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}

Response = dict[str, Any]
Problem = tuple[str, str]  # (error code, message)


class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    __call__ = now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock does not go back")
        self._now += seconds
        return self._now


@dataclass
class _Message:
    message_id: str
    body: str
    attributes: dict[str, Any]
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str | None = None  # the latest receipt handle; earlier ones are stale
    received_at: float = 0.0


@dataclass
class _Queue:
    visibility_s: int
    retention_s: float
    max_receive_count: float  # infinite without a redrive policy
    dead_letter_url: str | None
    messages: dict[str, _Message] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)  # receipt handle -> message id
    sent: list[str] = field(default_factory=list)


def _error(operation: str, problem: Problem) -> ClientError:
    error = {"Code": problem[0], "Message": problem[1], "Type": "Sender"}
    response: Any = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return ClientError(response, operation)


def _range(name: str, value: int | None, low: int, high: int) -> Problem | None:
    if value is None or low <= value <= high:
        return None
    reason = f"Value {value} for parameter {name} is invalid. Must be between {low} and {high}."
    return ("InvalidParameterValue", reason)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _in_flight(message: _Message, now: float) -> bool:
    return message.receipt is not None and message.visible_at > now


def _failure(problem: Problem) -> Response:
    return {"SenderFault": True, "Code": problem[0], "Message": problem[1]}


@dataclass(kw_only=True, eq=False)
class FakeSQS:
    """An in-memory SQS of several queues, by URL. Its knobs (a test may change them any time):
    ``duplicate_p``: a received message stays visible too, so another receive gets it again;
    ``lose_visibility_p``: a receive's visibility timeout is cut to 0 (a lost heartbeat);
    ``drop_delete_p``: a delete succeeds but the message stays (a lost delete);
    ``receive_empty_p``: a receive returns nothing although messages are visible;
    ``stale_delete``: what a delete with a stale receipt handle does, "deletes" or "ignored".
    """

    seed: int | random.Random = 0
    clock: Callable[[], float] = field(default_factory=FakeClock)
    duplicate_p: float = 0.0
    lose_visibility_p: float = 0.0
    drop_delete_p: float = 0.0
    receive_empty_p: float = 0.0
    stale_delete: Literal["deletes", "ignored"] = "deletes"
    max_body_bytes: int = MAX_BODY_BYTES
    _queues: dict[str, _Queue] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = self.seed if isinstance(self.seed, random.Random) else random.Random(self.seed)

    def create_queue(
        self,
        name: str,
        *,
        visibility_s: int = 30,
        max_receive_count: int | None = None,
        dead_letter_url: str | None = None,
        retention_s: float = RETENTION_S,
    ) -> str:
        """Create a queue and return its URL; a redrive policy needs both of its settings."""
        if (max_receive_count is None) != (dead_letter_url is None):
            raise ValueError("max_receive_count and dead_letter_url go together")
        url, limit = URL_PREFIX + name, max_receive_count or math.inf
        with self._lock:
            if url in self._queues:
                raise ValueError(f"queue {name} exists")
            if dead_letter_url is not None and dead_letter_url not in self._queues:
                raise ValueError(f"no dead-letter queue {dead_letter_url}")
            self._queues[url] = _Queue(visibility_s, retention_s, limit, dead_letter_url)
        return url

    def bodies(self, url: str) -> list[str]:
        """Every body stored in the queue, in flight or not, in the order they were stored."""
        return self._bodies(url, lambda m, now: True)

    def visible(self, url: str) -> list[str]:
        return self._bodies(url, lambda m, now: m.visible_at <= now)

    def in_flight(self, url: str) -> list[str]:
        return self._bodies(url, _in_flight)

    def sent_bodies(self, url: str) -> list[str]:
        """Every body a send to the queue ever accepted, in order (moves to a DLQ are not sends)."""
        with self._lock:
            return list(self._live(url, "Inspect").sent)

    def send_message(
        self,
        *,
        QueueUrl: str,
        MessageBody: str,
        DelaySeconds: int | None = None,
        MessageAttributes: Mapping[str, Any] | None = None,
    ) -> Response:
        entry: dict[str, Any] = {"MessageBody": MessageBody, "DelaySeconds": DelaySeconds}
        entry["MessageAttributes"] = MessageAttributes
        with self._lock:
            sent = self._send(self._live(QueueUrl, "SendMessage"), entry)
            if "Code" in sent:
                raise _error("SendMessage", (sent["Code"], sent["Message"]))
            return self._ok(**sent)

    def send_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> Response:
        operation = "SendMessageBatch"
        with self._lock:
            queue = self._live(QueueUrl, operation)
            self._check_batch(operation, Entries)
            size = sum(len(str(e["MessageBody"]).encode("utf-8", "replace")) for e in Entries)
            if size > self.max_body_bytes:
                too_long = f"Batch requests cannot be longer than {self.max_body_bytes} bytes."
                raise _error(operation, ("AWS.SimpleQueueService.BatchRequestTooLong", too_long))
            return self._batch_result([{"Id": e["Id"], **self._send(queue, e)} for e in Entries])

    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int = 0,
        VisibilityTimeout: int | None = None,
        AttributeNames: Sequence[str] = (),
        MessageSystemAttributeNames: Sequence[str] = (),
        MessageAttributeNames: Sequence[str] = (),
    ) -> Response:
        with self._lock:
            queue = self._live(QueueUrl, "ReceiveMessage")
            problem = (
                _range("MaxNumberOfMessages", MaxNumberOfMessages, 1, MAX_BATCH)
                or _range("WaitTimeSeconds", WaitTimeSeconds, 0, 20)
                or _range("VisibilityTimeout", VisibilityTimeout, 0, MAX_VISIBILITY_S)
            )
            if problem:
                raise _error("ReceiveMessage", problem)
            if self._chance(self.receive_empty_p):
                return self._ok()
            now = self.clock()
            timeout = queue.visibility_s if VisibilityTimeout is None else VisibilityTimeout
            names = {*AttributeNames, *MessageSystemAttributeNames}
            candidates = [m for m in queue.messages.values() if m.visible_at <= now]
            self.rng.shuffle(candidates)
            delivered: list[Response] = []
            for message in candidates:
                if len(delivered) == MaxNumberOfMessages:
                    break
                if message.receive_count >= queue.max_receive_count:
                    self._dead_letter(queue, message)
                    continue
                self._take(queue, message, now, timeout)
                delivered.append(self._view(message, names, MessageAttributeNames))
            return self._ok(Messages=delivered) if delivered else self._ok()

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> Response:
        with self._lock:
            queue = self._live(QueueUrl, "DeleteMessage")
            if ReceiptHandle not in queue.handles:
                invalid = f"The input receipt handle {ReceiptHandle} is not a valid receipt handle."
                raise _error("DeleteMessage", ("ReceiptHandleIsInvalid", invalid))
            message = queue.messages.get(queue.handles[ReceiptHandle])
            if message is None:  # deleted already (or moved, purged, expired): fine
                return self._ok()
            if message.receipt != ReceiptHandle and self.stale_delete == "ignored":
                return self._ok()
            if not self._chance(self.drop_delete_p):
                del queue.messages[message.message_id]
            return self._ok()

    def change_message_visibility(
        self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> Response:
        with self._lock:
            queue = self._live(QueueUrl, "ChangeMessageVisibility")
            if problem := self._change(queue, ReceiptHandle, VisibilityTimeout):
                raise _error("ChangeMessageVisibility", problem)
            return self._ok()

    def change_message_visibility_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> Response:
        operation = "ChangeMessageVisibilityBatch"
        with self._lock:
            queue = self._live(QueueUrl, operation)
            self._check_batch(operation, Entries)
            results = []
            for entry in Entries:
                timeout = int(entry.get("VisibilityTimeout", 0))
                problem = self._change(queue, entry["ReceiptHandle"], timeout)
                results.append({"Id": entry["Id"], **(_failure(problem) if problem else {})})
            return self._batch_result(results)

    def get_queue_attributes(
        self, *, QueueUrl: str, AttributeNames: Sequence[str] = ()
    ) -> Response:
        with self._lock:
            queue = self._live(QueueUrl, "GetQueueAttributes")
            now, stored = self.clock(), list(queue.messages.values())
            delayed = [m for m in stored if m.visible_at > now and m.receipt is None]
            every = {
                "ApproximateNumberOfMessages": sum(m.visible_at <= now for m in stored),
                "ApproximateNumberOfMessagesNotVisible": sum(_in_flight(m, now) for m in stored),
                "ApproximateNumberOfMessagesDelayed": len(delayed),
                "VisibilityTimeout": queue.visibility_s,
                "MaximumMessageSize": MAX_BODY_BYTES,
            }
            names = list(every) if "All" in AttributeNames else list(AttributeNames)
            if set(names) - set(every):
                raise _error("GetQueueAttributes", ("InvalidAttributeName", f"Unknown in {names}"))
            return self._ok(Attributes={name: str(every[name]) for name in names})

    def purge_queue(self, *, QueueUrl: str) -> Response:
        with self._lock:
            self._live(QueueUrl, "PurgeQueue").messages.clear()
            return self._ok()

    def _live(self, url: str, operation: str) -> _Queue:
        queue = self._queues.get(url)
        if queue is None:
            raise _error(operation, _NO_QUEUE)
        oldest = self.clock() - queue.retention_s
        queue.messages = {i: m for i, m in queue.messages.items() if m.sent_at > oldest}
        return queue

    def _bodies(self, url: str, keep: Callable[[_Message, float], bool]) -> list[str]:
        with self._lock:
            queue, now = self._live(url, "Inspect"), self.clock()
            return [m.body for m in queue.messages.values() if keep(m, now)]

    def _chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _send(self, queue: _Queue, entry: Mapping[str, Any]) -> Response:
        """Store one message; its MessageId and MD5OfMessageBody, or the failure's fields."""
        body, delay = entry["MessageBody"], entry.get("DelaySeconds")
        if problem := self._body_problem(body) or _range("DelaySeconds", delay, 0, MAX_DELAY_S):
            return _failure(problem)
        now, attributes = self.clock(), dict(entry.get("MessageAttributes") or {})
        message = _Message(self._new_id(), body, attributes, now, now + (delay or 0))
        queue.messages[message.message_id] = message
        queue.sent.append(body)
        return {"MessageId": message.message_id, "MD5OfMessageBody": _md5(body)}

    def _batch_result(self, results: list[Response]) -> Response:
        failed = [r for r in results if "Code" in r]
        return self._ok(Successful=[r for r in results if "Code" not in r], Failed=failed)

    def _take(self, queue: _Queue, message: _Message, now: float, timeout: int) -> None:
        """A delivery: a new receipt handle, the old ones stale; the knobs may leave it visible."""
        message.receive_count += 1
        message.receipt = f"{self._new_id()}:{message.message_id}"
        message.received_at = now
        queue.handles[message.receipt] = message.message_id
        left_visible = self._chance(self.duplicate_p) or self._chance(self.lose_visibility_p)
        message.visible_at = now if left_visible else now + timeout

    @staticmethod
    def _view(message: _Message, system: set[str], names: Sequence[str]) -> Response:
        delivered: Response = {"MessageId": message.message_id, "ReceiptHandle": message.receipt}
        delivered.update(MD5OfBody=_md5(message.body), Body=message.body)
        counts = {"ApproximateReceiveCount": str(message.receive_count), "SenderId": SENDER_ID}
        counts["SentTimestamp"] = str(int(message.sent_at * 1000))
        if system:
            wanted = {k: v for k, v in counts.items() if "All" in system or k in system}
            delivered["Attributes"] = wanted
        chosen = {k: v for k, v in message.attributes.items() if {"All", ".*", k} & set(names)}
        if chosen:
            delivered["MessageAttributes"] = chosen
        return delivered

    def _dead_letter(self, queue: _Queue, message: _Message) -> None:
        """The redrive policy: the message moves, keeping its id, body and first send time."""
        assert queue.dead_letter_url is not None
        del queue.messages[message.message_id]
        moved = _Message(message.message_id, message.body, message.attributes, message.sent_at, 0)
        self._queues[queue.dead_letter_url].messages[moved.message_id] = moved

    def _change(self, queue: _Queue, handle: str, timeout: int) -> Problem | None:
        if problem := _range("VisibilityTimeout", timeout, 0, MAX_VISIBILITY_S):
            return problem
        if handle not in queue.handles:
            return ("ReceiptHandleIsInvalid", f"The input receipt handle {handle} is not valid.")
        now = self.clock()
        message = queue.messages.get(queue.handles[handle])
        if message is None or message.receipt != handle or not _in_flight(message, now):
            return ("InvalidParameterValue", f"Value {handle} for ReceiptHandle. {_NOT_IN_FLIGHT}")
        if now + timeout - message.received_at > MAX_VISIBILITY_S:
            return ("InvalidParameterValue", _IN_FLIGHT_TOO_LONG)
        message.visible_at = now + timeout
        return None

    @staticmethod
    def _check_batch(operation: str, entries: Sequence[Mapping[str, Any]]) -> None:
        ids = [str(entry["Id"]) for entry in entries]
        refusals = {
            "EmptyBatchRequest": not ids,
            "TooManyEntriesInBatchRequest": len(ids) > MAX_BATCH,
            "BatchEntryIdsNotDistinct": len(set(ids)) != len(ids),
        }
        for code in (code for code, refused in refusals.items() if refused):
            raise _error(operation, (f"AWS.SimpleQueueService.{code}", f"{code}: ids {ids}"))

    def _body_problem(self, body: str) -> Problem | None:
        if not body:
            return ("MissingParameter", "The request must contain the parameter MessageBody.")
        if _INVALID_BODY.search(body):
            return ("InvalidMessageContents", "Invalid binary character in the message body.")
        if len(body.encode("utf-8")) > self.max_body_bytes:
            too_long = f"Reason: Message must be shorter than {self.max_body_bytes} bytes."
            return ("InvalidParameterValue", f"One or more parameters are invalid. {too_long}")
        return None

    @staticmethod
    def _ok(**fields: Any) -> Response:
        return {**fields, "ResponseMetadata": dict(_METADATA)}
