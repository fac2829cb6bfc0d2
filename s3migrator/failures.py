"""Why an object failed (``FailureRecord``), and how a batch's failures fit in its record, one
DynamoDB item of at most 400 KB (a pure policy).

A batch's record holds its items (when it carries them: a remainder's, a redrive's, a
replacement's) and, once counted, one failure per object that failed. The coordinator closes a
batch before its items and a failure of every one of them could outgrow ``RECORD_BYTES``, keeping
``reserved_bytes`` per item: the item, its failure's fields, and a message of at least
``MESSAGE_FLOOR_BYTES``. When a whole batch fails with long messages, ``fitted`` cuts the longest
messages first, so that what is stored fits, and keeps every failure's key, code, status and
attempts whole. A batch of a thousand keys thus needs no room for a thousand 400-character
messages, which would cap it near 380 keys.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field, ValidationInfo, field_validator

MAX_FAILURE_MESSAGE = 400
MAX_FAILURE_CODE = 64


class FailureRecord(BaseModel):
    """Why one object could not be copied. The message is cut to ``MAX_FAILURE_MESSAGE``
    characters and the code to ``MAX_FAILURE_CODE`` bytes; a batch's record cuts long messages
    further when many fail at once (``fitted``), so that they always fit in it."""

    key: str
    code: str = Field(max_length=MAX_FAILURE_CODE)
    message: str = Field(max_length=MAX_FAILURE_MESSAGE)

    @field_validator("message", "code", mode="before")
    @classmethod
    def _cut(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        if info.field_name == "message":
            return value[:MAX_FAILURE_MESSAGE]
        # In bytes, as the record's room for it is counted (codes are ASCII in practice).
        return value.encode()[:MAX_FAILURE_CODE].decode(errors="ignore")

    http_status: int | None = None
    attempts: int = 1
    version_id: str | None = None
    # As listed, so that a redrive can send the object back to work without a new listing.
    size: int = 0
    etag: str = ""
    storage_class: str | None = Field(default=None, max_length=32)
    # A destination object a sync could not delete (``delete_extra``); a delete marker; an
    # archived object the job restores.
    delete: bool = False
    marker: bool = False
    restore: bool = False


# What a batch's items and failures may take in its record; the rest of the 400 KB (409,600
# bytes, attribute names included) holds its ids, digest, listing range (two keys of at most
# 1,024 bytes), tally and counts: under 4 KB.
RECORD_BYTES = 400_000
# A failure's JSON beyond its item's: the names and values of its code (at most
# ``MAX_FAILURE_CODE`` characters), message, HTTP status and attempts.
FAILURE_OVERHEAD_BYTES = 128
# The least a failure's message keeps when a whole batch fails at once.
MESSAGE_FLOOR_BYTES = 64
# What a cut message ends with, so that a reader knows there was more.
CUT_MARK = "…"


def reserved_bytes(item_json_bytes: int) -> int:
    """The room a batch's record keeps for one item of ``item_json_bytes`` (its JSON, ASCII
    escaped: never fewer bytes than it takes in the record): the item, and its failure."""
    return 2 * item_json_bytes + FAILURE_OVERHEAD_BYTES + MESSAGE_FLOOR_BYTES


def failures_text(failures: list[FailureRecord]) -> str:
    """The failures as the record stores them: compact JSON, defaults left out."""
    return json.dumps(
        [f.model_dump(exclude_defaults=True) for f in failures],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def stored_bytes(text: str) -> int:
    return len(text.encode())


def _message_bytes(message: str) -> int:
    """What ``message`` takes in the record's JSON (escapes included), quotes left out."""
    return stored_bytes(json.dumps(message, ensure_ascii=False)) - 2


def _cut(message: str, limit: int) -> str:
    """The longest start of ``message`` that, with the cut mark, takes at most ``limit`` bytes."""
    if _message_bytes(message) <= limit:
        return message
    room = limit - _message_bytes(CUT_MARK)
    if room <= 0:
        return ""
    low, high = 0, min(len(message), room)  # a character takes one byte at least
    while low < high:
        middle = (low + high + 1) // 2
        if _message_bytes(message[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return message[:low] + CUT_MARK


def fitted(failures: list[FailureRecord], room_bytes: int) -> list[FailureRecord]:
    """``failures`` whose ``failures_text`` takes at most ``room_bytes``: unchanged when they
    fit; else every message is cut to one limit, the largest that fits (short messages stay
    whole). Messages cut to nothing are the last resort; what still does not fit then is
    returned as it is, and the record's write refuses it.

    A message's bytes in the text do not depend on the rest, so the text is written once and
    each distinct message cut once per limit tried: a dead-lettered batch's thousand failures
    share one reason.
    """
    total = stored_bytes(failures_text(failures))
    if total <= room_bytes:
        return failures
    sizes = {f.message: _message_bytes(f.message) for f in failures}
    fixed = total - sum(sizes[f.message] for f in failures)

    def fits(limit: int) -> bool:
        cut = {message: _message_bytes(_cut(message, limit)) for message in sizes}
        return fixed + sum(cut[f.message] for f in failures) <= room_bytes

    low, high = 0, max(sizes.values())
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    cut = {message: _cut(message, low) for message in sizes}
    return [f.model_copy(update={"message": cut[f.message]}) for f in failures]
