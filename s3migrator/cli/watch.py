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
from s3migrator.cli.exit_codes import exit_code_of_jobs
from s3migrator.cli.figures import Rate, Sample, rate
from s3migrator.cli.render import details, status_view, summary_line
from s3migrator.cli.values import interval_s
from s3migrator.errors import JobNotFoundError
from s3migrator.job_status import JobStatus
from s3migrator.models import JobState
from s3migrator.sqs.queues import queue_depth

if TYPE_CHECKING:
    from s3migrator.cli.context import Context

RATE_WINDOW_S = 30.0
# How long an unknown job id is waited for while job messages wait on the jobs queue (on AWS
# the coordinator task may first have to start), and while a coordinator is taking one (it
# records the job before anything else, so this is short).
PENDING_PATIENCE_S = 600.0
TAKING_PATIENCE_S = 30.0


@dataclass
class Rates:
    """Per job, the samples of the last ``RATE_WINDOW_S`` seconds."""

    window_s: float = RATE_WINDOW_S
    samples: dict[str, deque[Sample]] = field(default_factory=dict)

    def add(self, status: JobStatus, at_s: float) -> None:
        window = self.samples.setdefault(status.job_id, deque())
        done = status.done
        window.append(Sample(at_s, done, status.bytes_copied))
        while len(window) > 2 and at_s - window[0].at_s > self.window_s:
            window.popleft()

    def current(self) -> dict[str, Rate | None]:
        return {job_id: rate(list(window)) for job_id, window in self.samples.items()}


def add_follow_options(parser: argparse.ArgumentParser, flag: str) -> None:
    """``--wait`` or ``--watch``, and the refresh interval that goes with it."""
    parser.add_argument(flag, action="store_true", help="follow the job(s) live until they end")
    parser.add_argument(
        "--interval", type=interval_s, default=2.0, metavar="SECONDS", help=f"refresh of {flag}"
    )


def _ended(statuses: Sequence[JobStatus], job_ids: Sequence[str]) -> bool:
    seen = {s.job_id: s for s in statuses}
    return all(job_id in seen and seen[job_id].state is not JobState.RUNNING for job_id in job_ids)


def watch(
    context: Context,
    job_ids: Sequence[str],
    *,
    interval_s: float,
    as_json: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Follow ``job_ids`` until they end; the exit code of them (see ``exit_code_of_jobs``).

    A job id the stack does not know yet is waited for while job messages are on their way
    (``wait_until_known``). Ctrl-C stops watching, never the jobs.
    """
    try:
        return _watch(context, job_ids, interval_s=interval_s, as_json=as_json, clock=clock)
    except KeyboardInterrupt:
        context.errors.print(
            f"stopped watching; the job keeps running: s3migrator status {' '.join(job_ids)}",
            highlight=False,
        )
        raise


def _watch(
    context: Context,
    job_ids: Sequence[str],
    *,
    interval_s: float,
    as_json: bool,
    clock: Callable[[], float],
) -> int:
    progress = build_progress(context.settings, context.aws, context.resources)
    wait_until_known(context, job_ids, interval_s=interval_s)
    watched = list(job_ids)
    rates = Rates()

    def look() -> list[JobStatus]:
        statuses = [status for job_id in watched for status in progress.statuses(job_id)]
        now = clock()
        for status in statuses:
            rates.add(status, now)
        return statuses

    if as_json:
        return _watch_json(watched, look, interval_s)
    if not context.console.is_terminal:
        return _watch_lines(context, watched, look, rates, interval_s)
    console = context.console
    statuses = look()
    with Live(
        status_view(statuses, rates.current(), console.width),
        console=console,
        refresh_per_second=4,
        redirect_stderr=True,
    ) as live:
        while not _ended(statuses, watched):
            time.sleep(interval_s)
            statuses = look()
            live.update(status_view(statuses, rates.current(), console.width))
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
            seen = (status.state, status.percent, status.done)
            if printed.get(status.job_id) != seen:
                printed[status.job_id] = seen
                print(summary_line(status, current.get(status.job_id)), flush=True)
        if _ended(statuses, job_ids):
            # What --wait ends with in a pipe: what went wrong, if anything (the sender is in
            # `status`, on a terminal or as JSON).
            for line in details(statuses, senders=False):
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
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the stack knows every job; JobNotFoundError for one it cannot know.

    A job just sent is not known until a coordinator takes its message and records it, which
    it does first. So an unknown id is waited for while job messages wait to be taken (up to
    PENDING_PATIENCE_S: on AWS the coordinator task may first have to start), or briefly while
    one is being taken; with nothing on the way it is answered at once.
    """
    started = clock()
    told = False
    while True:
        unknown = [job_id for job_id in job_ids if context.store.get_job(job_id) is None]
        if not unknown:
            return
        waiting, taken = queue_depth(context.aws.sqs(), context.resources.jobs_queue_url)
        patience = PENDING_PATIENCE_S if waiting else TAKING_PATIENCE_S if taken else 0.0
        if clock() - started >= patience:
            raise JobNotFoundError(unknown[0])
        if not told and waiting:
            context.errors.print(
                f"job {unknown[0]} is not known yet; {waiting} job messages wait for a"
                " coordinator to take them (Ctrl-C stops waiting; is the id right?)",
                highlight=False,
            )
            told = True
        time.sleep(interval_s)
