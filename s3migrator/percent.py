"""Pure percent policy: the progress table of the copy scenario.

| percent | step                          |
|---------|-------------------------------|
| 0       | task started                  |
| 5       | destination bucket created    |
| 6-99    | copy step                     |
| 100     | task finished                 |

The same-name migration walks its own (``MIGRATE_TABLE``):

| percent | step                                     |
|---------|------------------------------------------|
| 0       | task started                             |
| 5       | temporary bucket created                 |
| 6-49    | copy step (to the temporary bucket)      |
| 50      | waiting for the source name's release    |
| 55      | destination bucket created               |
| 56-99   | copy step (back, under the name)         |
| 100     | task finished                            |

Deleting the verified source ends the first copy step (49); removing the temporary bucket ends
the second (99).
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
MIGRATE_TABLE: dict[Phase, Step] = {
    Phase.STARTED: Step(0, 0),
    Phase.TEMPORARY_READY: Step(5, 5),
    Phase.COPYING_TO_TEMPORARY: Step(6, 49),
    Phase.DELETING_SOURCE: Step(49, 49),
    Phase.WAITING_FOR_NAME: Step(50, 50),
    Phase.DESTINATION_CREATED: Step(55, 55),
    Phase.COPYING_BACK: Step(56, 99),
    Phase.REMOVING_TEMPORARY: Step(99, 99),
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


def within(step: Step, progress: int) -> int:
    """Where a step stands ``progress`` percent of the way through it (a migration's copy step
    from its copy job's percent): never outside the step, its last value only at 100.

    >>> within(MIGRATE_TABLE[Phase.COPYING_TO_TEMPORARY], 50)
    27
    """
    progress = max(0, min(progress, 100))
    return step.first + (step.last - step.first) * progress // 100
