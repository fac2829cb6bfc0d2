"""The status table fits the terminal it is drawn on, and never cuts a value."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from s3migrator.cli.figures import Rate
from s3migrator.cli.render import fitting_columns, status_view, summary_line
from s3migrator.job_status import JobStatus
from s3migrator.models import JobState, Mode, Phase
from s3migrator.selection import Tally

UUID_ID = "905b8a6463a74381b0fb58d27a82642c"


def status(job_id: str = UUID_ID, **changes: object) -> JobStatus:
    fields: dict[str, object] = {
        "job_id": job_id,
        "mode": Mode.COPY,
        "state": JobState.RUNNING,
        "phase": Phase.COPYING,
        "percent": 44,
        "source": "s3://src/",
        "destination": "s3://dst/",
        "objects_total": 3000,
        "objects_copied": 1250,
        "objects_failed": 0,
        "bytes_total": 45_000_000,
        "bytes_copied": 7_800_000,
        "enumeration_complete": True,
        "queue_visible": 4,
        "queue_in_flight": 3,
        "dlq_visible": 0,
        "created_at": 0.0,
    }
    return JobStatus.model_validate({**fields, **changes})


RATES = {UUID_ID: Rate(objects_per_s=100.7, bytes_per_s=6_100.0)}


def drawn(statuses: list[JobStatus], width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    console.print(status_view(statuses, RATES, width))
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
def test_nothing_is_cut_at_any_width(width: int) -> None:
    # GIVEN a running job and a finished one WHEN drawn at a terminal's width
    screen = drawn([status(), status("old", state=JobState.FAILED, error="gone")], width)
    # THEN every line fits, no value is shortened, and the ids are whole on their line
    assert all(len(line) <= width for line in screen.splitlines())
    assert "…" not in screen
    assert UUID_ID in screen


def test_a_narrow_terminal_keeps_the_figures_that_matter_most() -> None:
    assert [c.name for c in fitting_columns([status()], RATES, 80)] == [
        "job",
        "state",
        "progress",
        "objects",
    ]
    assert [c.name for c in fitting_columns([status()], RATES, 100)][:5] == [
        "job",
        "state",
        "progress",
        "objects",
        "left",
    ]


def test_a_wide_terminal_shows_every_column() -> None:
    names = [c.name for c in fitting_columns([status()], RATES, 160)]
    assert names == ["job", "state", "progress", "objects", "left", "bytes", "rate", "phase"]


def test_an_id_too_long_for_a_table_row_gets_a_block_of_its_own() -> None:
    # GIVEN a job id of 128 characters, the longest the schema allows
    long_id = "j" * 128
    # WHEN drawn at 120 columns
    screen = drawn([status(long_id)], 120)
    # THEN no table fits: the job is a block with its id (folded, never cut) and its figures
    assert fitting_columns([status(long_id)], RATES, 120) == []
    assert long_id in screen.replace("\n", "")
    assert "objects 1250/3000" in screen and "…" not in screen


def test_the_shared_work_queue_is_shown_once_not_per_job() -> None:
    screen = drawn([status(), status("other")], 160)
    assert screen.count("work queue: 4 batches waiting, 3 being copied, 0 dead-lettered") == 1


def test_time_left_is_unknown_while_the_listing_runs_and_absent_once_ended() -> None:
    listing = summary_line(status(enumeration_complete=False, objects_total=0), None)
    failed = summary_line(status(state=JobState.FAILED, objects_copied=0, bytes_copied=0), None)
    assert listing.endswith("left ?")
    assert failed.endswith("rate - left -")


def test_status_names_who_sent_each_job() -> None:
    screen = drawn([status(sender="AROAEXAMPLEROLEID0001:alice")], 120)
    assert f"{UUID_ID}: sent by AROAEXAMPLEROLEID0001:alice" in screen


def test_status_says_what_the_listing_left_out_and_what_a_sync_deleted() -> None:
    # GIVEN a sync that deleted one extra and left out unchanged, unselected and archived objects
    left_out = Tally(
        filtered=3, archived=2, archived_bytes=2048, unchanged=997, unchanged_bytes=1024**2
    )
    job = status(objects_copied=3, objects_deleted=1, skipped=left_out)
    # THEN the table counts the deletion and the details name each kind, with its bytes
    drawn_text = " ".join(drawn([job], 200).split())
    assert "3/3000, 1 deleted" in drawn_text
    assert (
        f"{UUID_ID}: skipped 997 unchanged (1.0 MiB), 3 not selected, 2 archived (2.0 KiB;"
        in drawn_text
    )
    # AND a job that left nothing out says nothing of it
    assert "skipped" not in drawn([status()], 200)


def test_a_migration_waiting_for_its_name_says_where_its_objects_are_and_its_attempts() -> None:
    # GIVEN a migration whose name was refused three times, the last by another account
    view = {
        "temporary": "s3://media-s3m-tmp-move/",
        "copy_step": "move.1",
        "name_attempts": 3,
        "last_name_error": "BucketAlreadyExists",
        "name_deadline": 1_800_000_000.0,
    }
    job = status(mode=Mode.MIGRATE, phase=Phase.WAITING_FOR_NAME, percent=50, migration=view)
    # THEN its details name the temporary bucket, the copy step, the attempts and the deadline
    drawn_text = " ".join(drawn([job], 240).split())
    assert (
        f"{UUID_ID}: temporary bucket s3://media-s3m-tmp-move/; copy step move.1 (`s3migrator"
        " status move.1` shows its objects); the name asked for 3 times, last:"
        " BucketAlreadyExists, tried until 2027-01-15 08:00 UTC" in drawn_text
    )
    # AND a stopped one says where it stopped, and how to go on
    view |= {"stopped_at": "waiting_for_name"}
    stopped = status(mode=Mode.MIGRATE, state=JobState.FAILED, phase=Phase.FINISHED, migration=view)
    assert f"stopped at waiting_for_name: `s3migrator resume {UUID_ID}` goes on" in " ".join(
        drawn([stopped], 240).split()
    )
    # AND a copy job says nothing of migrations
    assert "temporary bucket" not in drawn([status()], 240)
