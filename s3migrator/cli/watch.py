"""Following jobs until they end: a live table on a terminal, a line per change otherwise.

Used by ``status --watch``, ``submit --wait`` and ``redrive --wait``. Rates and time left come
from the samples seen while watching (a sliding window), so they follow the job's current pace.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.live import Live

from progress.process import build_progress
from s3migrator.cli.exit_codes import ExitCode, exit_code_of_jobs
from s3migrator.cli.figures import Rate, Sample, rate
from s3migrator.cli.render import status_view, summary_line
from s3migrator.errors import JobNotFoundError
from s3migrator.models import JobState, JobStatus
from s3migrator.sqs.queues import queue_depth

if TYPE_CHECKING:
    from s3migrator.cli.context import Context

RATE_WINDOW_S = 30.0
# How long an unknown job id is waited for while job messages wait on the jobs queue (on AWS
# the coordinator task may first have to start).
PENDING_PATIENCE_S = 600.0


@dataclass
class Rates:
    """Per job, the samples of the last ``RATE_WINDOW_S`` seconds."""

    window_s: float = RATE_WINDOW_S
    samples: dict[str, deque[Sample]] = field(default_factory=dict)

    def add(self, status: JobStatus, at_s: float) -> None:
        window = self.samples.setdefault(status.job_id, deque())
        done = status.objects_copied + status.objects_failed
        window.append(Sample(at_s, done, status.bytes_copied))
        while len(window) > 2 and at_s - window[0].at_s > self.window_s:
            window.popleft()

    def current(self) -> dict[str, Rate | None]:
        return {job_id: rate(list(window)) for job_id, window in self.samples.items()}


def add_follow_options(parser: argparse.ArgumentParser, flag: str) -> None:
    """``--wait`` or ``--watch``, and the refresh interval that goes with it."""
    parser.add_argument(flag, action="store_true", help="follow the job(s) live until they end")
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help=f"refresh of {flag}"
    )


def _ended(statuses: Sequence[JobStatus], job_ids: Sequence[str]) -> bool:
    seen = {s.job_id: s for s in statuses}
    return all(job_id in seen and seen[job_id].state is not JobState.RUNNING for job_id in job_ids)


def watch(
    context: Context,
    job_ids: Sequence[str] | None,
    *,
    interval_s: float,
    as_json: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Follow ``job_ids`` (or every job running now) until they end; the exit code of them.

    A job id the stack does not know yet is waited for while job messages are on their way
    (``wait_until_known``).
    """
    progress = build_progress(context.settings, context.aws, context.resources)
    if job_ids is not None:
        wait_until_known(context, job_ids, interval_s=interval_s)
        watched = list(job_ids)
    else:
        watched = [s.job_id for s in progress.refresh() if s.state is JobState.RUNNING]
        if not watched:
            context.errors.print("no job is running", highlight=False)
            return ExitCode.OK
    rates = Rates()

    def look() -> list[JobStatus]:
        statuses = [status for job_id in watched for status in progress.refresh(job_id)]
        now = clock()
        for status in statuses:
            rates.add(status, now)
        return statuses

    if as_json:
        return _watch_json(watched, look, interval_s)
    if not context.console.is_terminal:
        return _watch_lines(context, watched, look, rates, interval_s)
    statuses = look()
    with Live(
        status_view(statuses, rates.current()),
        console=context.console,
        refresh_per_second=4,
        redirect_stderr=True,
    ) as live:
        while not _ended(statuses, watched):
            time.sleep(interval_s)
            statuses = look()
            live.update(status_view(statuses, rates.current()))
    return exit_code_of_jobs([s.state for s in statuses])


def _watch_lines(
    context: Context,
    job_ids: Sequence[str],
    look: Callable[[], list[JobStatus]],
    rates: Rates,
    interval_s: float,
) -> int:
    printed: dict[str, tuple[JobState, int, int]] = {}
    while True:
        statuses = look()
        current = rates.current()
        for status in statuses:
            seen = (status.state, status.percent, status.objects_copied + status.objects_failed)
            if printed.get(status.job_id) != seen:
                printed[status.job_id] = seen
                print(summary_line(status, current.get(status.job_id)), flush=True)
        if _ended(statuses, job_ids):
            for line in status_view(statuses, current).renderables[1:]:
                context.console.print(line)
            return exit_code_of_jobs([s.state for s in statuses])
        time.sleep(interval_s)


def _watch_json(
    job_ids: Sequence[str],
    look: Callable[[], list[JobStatus]],
    interval_s: float,
) -> int:
    """JSON Lines: one compact document per job each time it changes."""
    printed: dict[str, str] = {}
    while True:
        statuses = look()
        for status in statuses:
            line = json.dumps(status.model_dump(mode="json"), separators=(",", ":"))
            if printed.get(status.job_id) != line:
                printed[status.job_id] = line
                print(line, flush=True)
        if _ended(statuses, job_ids):
            return exit_code_of_jobs([s.state for s in statuses])
        time.sleep(interval_s)


def wait_until_known(
    context: Context,
    job_ids: Sequence[str],
    *,
    interval_s: float,
    patience_s: float = PENDING_PATIENCE_S,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the stack knows every job; JobNotFoundError for one it cannot know.

    A job just sent is not known until the coordinator takes its message, so an unknown id is
    waited for while the jobs queue holds messages (for at most ``patience_s``); with nothing
    on the way it is answered at once.
    """
    deadline = clock() + patience_s
    told = False
    while True:
        unknown = [job_id for job_id in job_ids if context.store.get_job(job_id) is None]
        if not unknown:
            return
        visible, in_flight = queue_depth(context.aws.sqs(), context.resources.jobs_queue_url)
        if visible + in_flight == 0 or clock() > deadline:
            raise JobNotFoundError(unknown[0])
        if not told:
            context.errors.print(
                f"job {unknown[0]} is not known yet; {visible + in_flight} job messages wait"
                " for the coordinator, waiting for it to take them",
                highlight=False,
            )
            told = True
        time.sleep(interval_s)
