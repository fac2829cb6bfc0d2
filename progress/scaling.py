"""Pure scaling policy: the work queue's backlog into a desired number of copier tasks.

AWS's recommendation for ECS on SQS: track backlog per task toward a target, scale in to zero
when the queue is empty. Messages in flight count as backlog: they are work still being done.
"""

from __future__ import annotations

import math


def desired_copiers(
    *,
    visible: int,
    in_flight: int,
    target_backlog_per_task: int,
    max_tasks: int,
    min_tasks: int = 0,
) -> int:
    """How many copier tasks should run now; zero exactly when nothing is queued or in flight."""
    if target_backlog_per_task < 1:
        raise ValueError("target_backlog_per_task must be at least 1")
    backlog = visible + in_flight
    if backlog <= 0:
        return min_tasks
    wanted = max(1, math.ceil(backlog / target_backlog_per_task))
    return max(min_tasks, min(wanted, max_tasks))


def backlog_per_copier(visible: int, in_flight: int, running: int) -> float:
    """The metric the copier service tracks: batches queued or in flight per running copier."""
    return (visible + in_flight) / max(running, 1)


def copiers_needed_from_zero(visible: int, in_flight: int, running: int) -> int:
    """1 when work waits and no copier runs: target tracking cannot scale out from zero."""
    return 1 if running == 0 and visible + in_flight > 0 else 0
