"""What becomes of a work message: decided by the handlers, carried out by ``Worker._settle``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fate(StrEnum):
    DELETE = "delete"  # counted (by us or another), or obsolete: nothing more to do
    LEAVE = "leave"  # not ours to fix: SQS redelivers it, then dead-letters it
    LATER = "later"  # another live copier holds it: hidden for as long as SQS allows


@dataclass(frozen=True)
class Decision:
    fate: Fate
    reason: str
    # LATER: hidden this long instead (a claim that runs out sooner than SQS's cap).
    hide_s: int | None = None
