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
