"""Pure percent policy: the progress table of the copy scenario.

| percent | step                          |
|---------|-------------------------------|
| 0       | task started                  |
| 5       | destination bucket created    |
| 6-99    | copy step                     |
| 100     | task finished                 |

A later mode (same-name migration) adds its own table; ``COPY_TABLE`` is data so it can.
"""

from __future__ import annotations

from dataclasses import dataclass

from s3migrator.models import Phase


@dataclass(frozen=True)
class Step:
    first: int
    last: int


COPY_TABLE: dict[Phase, Step] = {
    Phase.STARTED: Step(0, 0),
    Phase.CREATING_BUCKET: Step(0, 0),
    Phase.BUCKET_CREATED: Step(5, 5),
    Phase.DESTINATION_READY: Step(5, 5),
    Phase.COPYING: Step(6, 99),
    Phase.REDRIVING: Step(6, 99),
    Phase.FINISHED: Step(100, 100),
}


def percent(
    phase: Phase,
    *,
    done: int,
    total: int,
    enumeration_complete: bool,
    table: dict[Phase, Step] = COPY_TABLE,
) -> int:
    """Percent for a phase; 100 only when finished, never above the step's last value.

    While the listing is still running the total is unknown (what is listed so far only grows),
    and any fraction of it could fall as it grows: the copy step then shows its first value,
    and moves on from there once the total is known. So a percent never goes back.
    """
    step = table[phase]
    if step.first == step.last or not enumeration_complete or total <= 0:
        return step.first
    fraction = min(done, total) / total
    value = step.first + int(fraction * (step.last - step.first))
    return max(step.first, min(value, step.last))
