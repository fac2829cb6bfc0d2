"""How jobs look on a terminal and in a log: the status table, one-line summaries, details.

The table fits the width it is given: columns are kept in order of importance (job, state,
progress, objects, time left, bytes, rate, phase) while they fit whole, and when not even the
first three fit (a narrow terminal, a very long job id), each job is shown as a short block
instead. Nothing is ever cut: a job id is copied into the next command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from s3migrator.cli.figures import Rate, human_bytes, human_duration, human_rate, seconds_left
from s3migrator.job_status import JobStatus
from s3migrator.models import JobState, Phase

BAR_WIDTH = 10
_STATE_STYLE = {
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red",
    JobState.COMPLETED_WITH_FAILURES: "yellow",
}
# Measures tables as they would be drawn, whatever the terminal.
_MEASURE = Console(width=10_000, color_system=None)


def _objects(status: JobStatus) -> str:
    total = f"{status.objects_total}{'' if status.enumeration_complete else '+'}"
    failed = f", {status.objects_failed} failed" if status.objects_failed else ""
    deleted = f", {status.objects_deleted} deleted" if status.objects_deleted else ""
    return f"{status.objects_copied}/{total}{failed}{deleted}"


def _bytes(status: JobStatus) -> str:
    return f"{human_bytes(status.bytes_copied)} / {human_bytes(status.bytes_total)}"


def _done(status: JobStatus) -> int:
    return status.done


def _rate(status: JobStatus, current: Rate | None) -> str:
    if status.state is not JobState.RUNNING and _done(status) == 0:
        return "-"
    return human_rate(current)


def _left(status: JobStatus, current: Rate | None) -> str:
    if status.state is not JobState.RUNNING:
        return "-"
    if not status.enumeration_complete:
        return "?"  # the total is not known until the listing ends
    left = seconds_left(
        status.objects_total - _done(status), status.bytes_total - status.bytes_copied, current
    )
    return "?" if left is None else human_duration(left)


def _bar(status: JobStatus) -> RenderableType:
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=100, completed=status.percent, width=BAR_WIDTH), _percent(status))
    return bar


def _percent(status: JobStatus) -> str:
    return f"{status.percent:>3}%"


@dataclass(frozen=True)
class Column:
    name: str
    text: Callable[[JobStatus, Rate | None], str]  # the cell as plain text
    justify: JustifyMethod = "left"


# In order of importance; shown in this order too.
COLUMNS = (
    Column("job", lambda s, _: s.job_id),
    Column("state", lambda s, _: s.state.value),
    Column("progress", lambda s, _: _percent(s)),
    Column("objects", lambda s, _: _objects(s), "right"),
    Column("left", _left, "right"),
    Column("bytes", lambda s, _: _bytes(s), "right"),
    Column("rate", _rate, "right"),
    Column("phase", lambda s, _: s.phase.value),
)
REQUIRED = ("job", "state", "progress")


def fitting_columns(
    statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None], width: int
) -> list[Column]:
    """The columns that fit whole in ``width``, by importance; [] when the first three do not."""
    chosen: list[Column] = []
    for column in COLUMNS:
        trial = _table(statuses, rates, [*chosen, column])
        if _MEASURE.measure(trial).maximum <= width:
            chosen.append(column)
        elif column.name in REQUIRED:
            return []
    return chosen


def _table(
    statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None], columns: Sequence[Column]
) -> Table:
    table = Table(
        title="s3migrator jobs",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    for column in columns:
        table.add_column(column.name, justify=column.justify, no_wrap=True)
    for status in statuses:
        current = rates.get(status.job_id)
        table.add_row(*(_cell(column, status, current) for column in columns))
    return table


def _cell(column: Column, status: JobStatus, current: Rate | None) -> RenderableType:
    if column.name == "state":
        return Text(status.state.value, style=_STATE_STYLE[status.state])
    if column.name == "progress":
        return _bar(status)
    return column.text(status, current)


def status_table(
    statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None], width: int
) -> RenderableType:
    """One row per job with the columns that fit; a block per job where even those do not."""
    columns = fitting_columns(statuses, rates, width)
    if not columns:
        return Group(*(_block(s, rates.get(s.job_id)) for s in statuses))
    return _table(statuses, rates, columns)


def _block(status: JobStatus, current: Rate | None) -> RenderableType:
    head = Text(status.job_id, style="bold")
    line = Table.grid(padding=(0, 1))
    line.add_row(Text(status.state.value, style=_STATE_STYLE[status.state]), _bar(status))
    figures = Text(
        f"objects {_objects(status)} · bytes {_bytes(status)} · rate {_rate(status, current)}"
        f" · left {_left(status, current)} · {status.phase.value}"
    )
    return Group(head, line, figures)


def queue_line(statuses: Sequence[JobStatus]) -> str:
    """The work queue the jobs share: batches waiting, being copied, dead-lettered."""
    if not statuses:
        return ""
    s = statuses[0]
    return (
        f"work queue: {s.queue_visible} batches waiting, {s.queue_in_flight} being copied,"
        f" {s.dlq_visible} dead-lettered"
    )


def summary_line(status: JobStatus, current: Rate | None) -> str:
    """One plain line per job, for logs and pipes."""
    return (
        f"{status.job_id} {status.state.value} {status.phase.value} {status.percent}%"
        f" objects {_objects(status)} bytes {_bytes(status)}"
        f" rate {_rate(status, current)} left {_left(status, current)}"
    )


def details(statuses: Sequence[JobStatus], *, senders: bool = True) -> list[RenderableType]:
    """Each job's sender and how many of its copies were verified as made (``senders``: the
    status view's), error, first failures with their reasons, and completion report."""
    lines: list[RenderableType] = []
    for s in statuses:
        if senders and s.sender:
            lines.append(Text(f"{s.job_id}: sent by {s.sender}", style="dim"))
        if s.error:
            lines.append(Text(f"{s.job_id}: {s.error}", style="red"))
        if senders and s.objects_copied and s.state is not JobState.RUNNING:
            lines.append(Text(f"{s.job_id}: {verified_line(s)}", style="dim"))
        if left_out := skipped_line(s):
            lines.append(Text(f"{s.job_id}: {left_out}"))
        if s.report is not None:
            lines.append(Text(f"{s.job_id}: report {s.report}"))
        if s.migration is not None:
            lines.append(Text(f"{s.job_id}: {migration_line(s)}", style="dim"))
        for failure in s.first_failures:
            lines.append(
                Text(f"  {s.job_id} failed {failure.key!r}: {failure.code} {failure.message}")
            )
    return lines


def migration_line(status: JobStatus) -> str:
    """A migration's temporary bucket, the copy step it follows, its attempts at the name."""
    view = status.migration
    assert view is not None
    line = (
        f"temporary bucket {view.temporary}; copy step {view.copy_step}"
        f" (`s3migrator status {view.copy_step}` shows its objects)"
    )
    if view.name_attempts:
        line += f"; the name asked for {view.name_attempts} times"
        if view.last_name_error and status.phase is Phase.WAITING_FOR_NAME:
            line += f", last: {view.last_name_error}"
        if view.name_deadline and status.state is JobState.RUNNING:
            at = datetime.fromtimestamp(view.name_deadline, UTC).strftime("%Y-%m-%d %H:%M UTC")
            line += f", tried until {at}"
    if view.cancel_requested and status.state is JobState.RUNNING:
        line += "; asked to stop at its next safe point"
    if view.stopped_at and status.state is not JobState.RUNNING:
        line += f"; stopped at {view.stopped_at}: `s3migrator resume {status.job_id}` goes on"
    return line


def verified_line(status: JobStatus) -> str:
    """How many copies S3's answer verified as they were made, and what verifies the rest."""
    rest = status.objects_copied - status.objects_verified
    line = (
        f"{status.objects_verified} of {status.objects_copied} copies verified as made"
        " (ETag, or checksum of the whole object)"
    )
    if rest > 0:
        line += (
            f"; {rest} made in parts without a CRC of the whole object, or under SSE-KMS:"
            f" `s3migrator verify {status.job_id}` compares them"
        )
    return line


def skipped_line(status: JobStatus) -> str:
    """What the listing left out, in words ("" when nothing)."""
    tally = status.skipped
    parts = []
    if tally.unchanged:
        parts.append(f"{tally.unchanged} unchanged ({human_bytes(tally.unchanged_bytes)})")
    if tally.filtered:
        parts.append(f"{tally.filtered} not selected")
    if tally.archived:
        parts.append(
            f"{tally.archived} archived ({human_bytes(tally.archived_bytes)}; send the job again"
            ' under a new id with "archived": "restore", or as a sync once they are restored)'
        )
    if tally.extra:
        parts.append(f"{tally.extra} at the destination only (kept)")
    return "skipped " + ", ".join(parts) if parts else ""


def status_view(
    statuses: Sequence[JobStatus], rates: Mapping[str, Rate | None], width: int
) -> Group:
    return Group(
        status_table(statuses, rates, width), Text(queue_line(statuses)), *details(statuses)
    )


def no_jobs_message(stack_name: str) -> str:
    return f"no jobs in stack {escape(stack_name)} yet; `s3migrator submit --help` starts one"
