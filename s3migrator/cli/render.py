"""How jobs look on a terminal and in a log: the status table, one-line summaries, details."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from s3migrator.cli.figures import Rate, human_bytes, human_duration, human_rate, seconds_left
from s3migrator.models import JobState, JobStatus

_STATE_STYLE = {
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red",
    JobState.COMPLETED_WITH_FAILURES: "yellow",
}


def _objects(status: JobStatus) -> str:
    total = f"{status.objects_total}{'' if status.enumeration_complete else '+'}"
    failed = f", {status.objects_failed} failed" if status.objects_failed else ""
    return f"{status.objects_copied}/{total}{failed}"


def _bytes(status: JobStatus) -> str:
    return f"{human_bytes(status.bytes_copied)} / {human_bytes(status.bytes_total)}"


def _eta(status: JobStatus, current: Rate | None) -> str:
    if status.state is not JobState.RUNNING:
        return "-"
    left = seconds_left(
        status.objects_total - status.objects_copied - status.objects_failed,
        status.bytes_total - status.bytes_copied,
        current,
    )
    if left is None or not status.enumeration_complete:
        return "?" if left is None else f">{human_duration(left)}"
    return human_duration(left)


def status_table(statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None]) -> Table:
    """One row per job: a bar, objects, bytes, rate, time left and the work queue's depth."""
    table = Table(title="s3migrator jobs", title_justify="left")
    # Ids are never cut: a user copies them into the next command.
    width = max((len(s.job_id) for s in statuses), default=3)
    table.add_column("job", no_wrap=True, min_width=width)
    table.add_column("state", no_wrap=True)
    table.add_column("phase", no_wrap=True)
    table.add_column("progress", no_wrap=True)
    table.add_column("objects", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("rate", justify="right")
    table.add_column("left", justify="right")
    table.add_column("queue", justify="right")
    table.add_column("dlq", justify="right")
    for s in statuses:
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=100, completed=s.percent, width=12), f"{s.percent:>3}%")
        table.add_row(
            s.job_id,
            Text(s.state.value, style=_STATE_STYLE[s.state]),
            s.phase.value,
            bar,
            _objects(s),
            _bytes(s),
            human_rate(rates.get(s.job_id)),
            _eta(s, rates.get(s.job_id)),
            f"{s.queue_visible}+{s.queue_in_flight}",
            str(s.dlq_visible),
        )
    return table


def summary_line(status: JobStatus, current: Rate | None) -> str:
    """One plain line per job, for logs and pipes."""
    return (
        f"{status.job_id} {status.state.value} {status.phase.value} {status.percent}%"
        f" objects {_objects(status)} bytes {_bytes(status)}"
        f" rate {human_rate(current)} left {_eta(status, current)}"
    )


def details(statuses: Sequence[JobStatus]) -> list[RenderableType]:
    """Each job's error and first failures, with their reasons."""
    lines: list[RenderableType] = []
    for s in statuses:
        if s.error:
            lines.append(Text(f"{s.job_id}: {s.error}", style="red"))
        for failure in s.first_failures:
            lines.append(
                Text(f"  {s.job_id} failed {failure.key!r}: {failure.code} {failure.message}")
            )
    return lines


def status_view(statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None]) -> Group:
    return Group(status_table(statuses, rates), *details(statuses))


def no_jobs_message(stack_name: str) -> str:
    return f"no jobs in stack {escape(stack_name)} yet; `s3migrator submit --help` starts one"
