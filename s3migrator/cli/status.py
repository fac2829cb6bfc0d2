"""Progress commands: ``status`` (one job or all, once or live) and ``progress`` (the function)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from progress.process import build_progress
from s3migrator.cli.exit_codes import ExitCode, exit_code_of_jobs
from s3migrator.cli.figures import Rate, Sample, rate
from s3migrator.cli.render import no_jobs_message, status_view
from s3migrator.cli.values import interval_s
from s3migrator.cli.watch import add_follow_options, watch
from s3migrator.errors import JobNotFoundError
from s3migrator.job_status import JobStatus
from s3migrator.models import JobState

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


def average_rate(status: JobStatus, now_s: float) -> Rate | None:
    """The job's pace since it was created (until it finished)."""
    end = status.finished_at or now_s
    done = status.done
    return rate([Sample(status.created_at, 0, 0), Sample(end, done, status.bytes_copied)])


def status_command(context: Context) -> int:
    args = context.args
    if not args.watch:
        return _print_once(context, args.job_id)
    if args.job_id is not None:
        return watch(context, [args.job_id], interval_s=args.interval, as_json=args.json)
    # Every job that runs now; with none, what there is, once.
    statuses = _look(context, None)
    running = [s.job_id for s in statuses if s.state is JobState.RUNNING]
    if running:
        return watch(context, running, interval_s=args.interval, as_json=args.json)
    if not args.json:
        _print_once(context, None, statuses)
    context.errors.print("no job is running", highlight=False)
    return ExitCode.OK


def _look(context: Context, job_id: str | None) -> list[JobStatus]:
    """The jobs as they stand: a pure read (the scheduled progress run moves them on)."""
    return build_progress(context.settings, context.aws, context.resources).statuses(job_id)


def _print_once(
    context: Context, job_id: str | None, statuses: list[JobStatus] | None = None
) -> int:
    statuses = _look(context, job_id) if statuses is None else statuses
    if job_id is not None and not statuses:
        raise JobNotFoundError(job_id)
    if context.args.json:
        payload = (
            statuses[0].model_dump(mode="json")
            if job_id
            else [s.model_dump(mode="json") for s in statuses]
        )
        print(json.dumps(payload, indent=2))
    elif not statuses:
        context.console.print(no_jobs_message(context.settings.stack_name), highlight=False)
    else:
        now = time.time()
        rates = {s.job_id: average_rate(s, now) for s in statuses}
        context.console.print(status_view(statuses, rates, context.console.width))
    # One job: its own outcome. Every job: listing them went well.
    return exit_code_of_jobs([s.state for s in statuses]) if job_id else ExitCode.OK


def progress_command(context: Context) -> int:
    progress = build_progress(context.settings, context.aws, context.resources)
    while True:
        statuses = progress.refresh()
        running = sum(s.state is JobState.RUNNING for s in statuses)
        context.console.print(f"progress: {len(statuses)} jobs refreshed, {running} running")
        if context.args.every is None:
            return ExitCode.OK
        time.sleep(context.args.every)


def register(commands: Commands) -> None:
    status = commands.add(
        "status",
        help="progress of one job, or of every job",
        description=(
            "Each job's state, phase, percent, objects and bytes copied, rate, time left and the\n"
            "work queue's depth (visible+in flight, dead letters). --watch follows the job (or\n"
            "every running job) live until it ends; --json prints the status documents (JSON\n"
            "Lines with --watch, one per change). Looking changes nothing: jobs move on by the\n"
            "scheduled progress function (`s3migrator progress` runs it by hand). Exits 1 when\n"
            "the job failed or completed with failures, 4 when there is no such job."
        ),
        examples=[
            "s3migrator status",
            "s3migrator status JOB_ID --watch",
            "s3migrator status JOB_ID --json | jq .percent",
        ],
        handler=status_command,
    )
    status.add_argument("job_id", nargs="?", metavar="JOB_ID", help="one job (default: all)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_follow_options(status, "--watch")

    progress = commands.add(
        "progress",
        help="run the progress function (as the scheduled Lambda does)",
        description=(
            "One run of the progress function: sweep dead letters, resume jobs no coordinator\n"
            "holds, finish jobs whose work is done, store each job's percent. --every repeats\n"
            "it, as the schedule does on AWS (and `local up` does on the embedded stack)."
        ),
        examples=["s3migrator progress", "s3migrator progress --every 60"],
        handler=progress_command,
        logs=True,
    )
    progress.add_argument(
        "--every",
        type=interval_s,
        metavar="SECONDS",
        help="repeat at this interval (default: once)",
    )
