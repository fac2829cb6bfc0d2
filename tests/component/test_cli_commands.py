"""The command line against the deployed stack: what a user sees, and the exit codes scripts see.

Each test runs ``main`` in-process against moto, as ``s3migrator ...`` would from a shell whose
output is piped (not a terminal).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto_helpers import counted_batch, fill, job_message, job_record

from s3migrator.cli import main
from s3migrator.cli.context import Context
from s3migrator.cli.parser import build_parser
from s3migrator.cli.watch import PENDING_PATIENCE_S, TAKING_PATIENCE_S, wait_until_known
from s3migrator.errors import JobNotFoundError
from s3migrator.failures import FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import ListingCheckpoint, Phase
from s3migrator.resources import Resources
from s3migrator.selection import Selection

OWNER = "coordinator-a"
LONG_ID = "nightly-2026-11-27-finance-archive-eu-central-1-to-us-east-2-x"


def listed_job(store: JobStore, job_id: str, objects: int = 3) -> None:
    """A copying job whose listing is complete: one batch of ``objects`` objects."""
    store.create_job(job_record(job_id))
    store.acquire_lease(job_id, OWNER, lease_s=60)
    store.set_phase(job_id, OWNER, 0, Phase.STARTED, Phase.COPYING)
    checkpoint = ListingCheckpoint(start_after="k", next_seq=1, objects=objects, bytes=objects)
    store.save_checkpoint(
        job_id, OWNER, checkpoint.model_copy(update={"complete": True}), 60, seq=0
    )


def test_status_exit_codes_follow_the_job(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job that failed, one that succeeded and one still copying
    listed_job(store, "bad")
    counted_batch(store, "bad", "bad:000000000", copied=2, failed=1, bytes_copied=2)
    listed_job(store, "good")
    counted_batch(store, "good", "good:000000000", copied=3, failed=0, bytes_copied=3)
    listed_job(store, "busy")
    assert main(["progress"]) == 0  # the scheduled progress run finishes the first two
    # WHEN each one's status is asked for, and an unknown job's
    codes = {job: main(["status", job]) for job in ("bad", "good", "busy", "ghost")}
    # THEN failed exits 1, succeeded and running 0, unknown 4, and all jobs listed 0
    assert codes == {"bad": 1, "good": 0, "busy": 0, "ghost": 4}
    assert main(["status"]) == 0
    err = capsys.readouterr().err
    assert "error: no job 'ghost'" in err


def test_a_missing_stack_exits_3_and_says_how_to_deploy_it(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an endpoint without the stack WHEN any stack command runs
    code = main(["status"])
    # THEN it exits 3 (not 2, a usage error) with the command that fixes it, on one line
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert err == (
        "error: no stack 's3migrator' here; deploy it with `s3migrator deploy --stack s3migrator`"
        " (or give --stack NAME)"
    )


def test_status_shows_whole_job_ids_on_a_pipe(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job with a 62-character id WHEN every job's status is printed to a pipe (80 cols)
    listed_job(store, LONG_ID)
    assert main(["status"]) == 0
    # THEN the id is printed whole, on one line
    out = capsys.readouterr().out
    assert any(LONG_ID in line for line in out.splitlines()), out


def test_status_of_an_empty_stack_says_so(
    resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    assert "no jobs in stack s3migrator yet" in capsys.readouterr().out


def test_watching_an_unknown_job_or_an_idle_stack_answers_at_once(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN nothing on the jobs queue and no running job, only an old failed one
    listed_job(store, "done")
    counted_batch(store, "done", "done:000000000", copied=2, failed=1, bytes_copied=2)
    assert main(["progress"]) == 0
    # WHEN an unknown job, then every running job, is watched
    unknown = main(["status", "ghost", "--watch", "--interval", "60"])
    idle = main(["status", "--watch", "--interval", "60"])
    # THEN both return without waiting: no such job (4), nothing to watch (0), the old
    # failure shown once, with the table, not as the watch's outcome
    assert (unknown, idle) == (4, 0)
    out, err = capsys.readouterr()
    assert "no job is running" in err
    assert out.count("completed_with_failures") == 1


def test_watch_as_json_prints_one_compact_line_per_change(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job whose last batch is counted and that the progress run has finished
    listed_job(store, "job-1")
    counted_batch(store, "job-1", "job-1:000000000", copied=3, failed=0, bytes_copied=3)
    assert main(["progress"]) == 0
    capsys.readouterr()
    # WHEN it is watched as JSON
    code = main(["status", "job-1", "--watch", "--json", "--interval", "0.01"])
    # THEN one compact document (one line) says it succeeded, and the exit code agrees
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == 1
    assert (json.loads(lines[0])["state"], json.loads(lines[0])["percent"]) == ("succeeded", 100)


def test_submit_warns_of_a_reused_id_and_of_another_job_into_the_same_place(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a running job "job-1" copying into s3://dst-bucket
    listed_job(store, "job-1")
    # WHEN the same id is sent again, and then another job into the same bucket's prefix
    same = main(
        ["submit", "--source", "s3://src-bucket", "--dest", "s3://dst-bucket", "--job-id", "job-1"]
    )
    other = main(["submit", "--source", "s3://other-src", "--dest", "s3://dst-bucket/in/"])
    # THEN both are sent, with a warning for each
    err = " ".join(capsys.readouterr().err.split())
    assert (same, other) == (0, 0)
    assert (
        "warning: job job-1 already exists (running); sending its id again starts nothing new"
        in err
    )
    assert "warning: job job-1 is running into s3://dst-bucket/ as well" in err


def test_outputs_prints_a_value_for_scripts_and_every_output_as_lines(
    resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outputs", "JobsQueueUrl"]) == 0
    assert capsys.readouterr().out == resources.jobs_queue_url + "\n"
    assert main(["outputs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"TableName={resources.table_name}" in lines
    assert f"WorkQueueUrl={resources.work_queue_url}" in lines
    assert main(["outputs", "NoSuchOutput"]) == 2
    assert "the stack has no output 'NoSuchOutput'; it has" in capsys.readouterr().err


def test_verify_reports_every_difference_once_and_keeps_going(
    s3: Any, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a source and a destination that differ in every way verify knows, and a source
    # object that cannot be read (archived)
    fill(s3, "src-bucket", {"in/same": b"1", "in/gone": b"2", "in/size": b"3", "in/bytes": b"4"})
    s3.put_object(Bucket="src-bucket", Key="in/cold", Body=b"5", StorageClass="GLACIER")
    fill(
        s3,
        "dst-bucket",
        {"out/same": b"1", "out/size": b"33", "out/bytes": b"X", "out/cold": b"5", "out/new": b"6"},
    )
    # WHEN the two are verified, every byte read
    code = main(["verify", "s3://src-bucket/in/", "s3://dst-bucket/out/", "--bytes", "--json"])
    # THEN each differing key appears exactly once, with its kind and full URLs on both sides
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(d["kind"], d["key"]) for d in report["differences"]] == [
        ("content", "bytes"),
        ("unreadable", "cold"),
        ("missing", "gone"),
        ("extra", "new"),
        ("size", "size"),
    ]
    cold = report["differences"][1]
    assert (cold["source"], cold["destination"]) == (
        "s3://src-bucket/in/cold",
        "s3://dst-bucket/out/cold",
    )
    assert cold["detail"].startswith("source: InvalidObjectState")
    # AND as a table, every difference is named and the verdict comes once, last
    assert main(["verify", "s3://src-bucket/in/", "s3://dst-bucket/out/", "--bytes"]) == 1
    out = capsys.readouterr().out
    assert "s3://src-bucket/in/gone" in out
    assert out.strip().splitlines()[-1].startswith("verification FAILED: 5 differences")


def test_verify_of_identical_sides_passes(
    s3: Any, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(s3, "src-bucket", {"a": b"1", "b/c": b"22"})
    fill(s3, "dst-bucket", {"a": b"1", "b/c": b"22"})
    assert main(["verify", "s3://src-bucket", "s3://dst-bucket"]) == 0
    assert "verification passed: 2 objects (3 B)" in " ".join(capsys.readouterr().out.split())


def test_verify_of_a_job_compares_its_two_sides_as_the_job_reads_them(
    s3: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    copy_all: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a job that copied s3://src-bucket/in/ into s3://dst-bucket/out/
    fill(s3, "src-bucket", {"in/a": b"1", "in/b": b"22"})
    make_runner().run(job_message("job-1", source_prefix="in/", destination_prefix="out/"))
    copy_all()
    # WHEN it is verified by its id
    assert main(["verify", "job-1", "--json"]) == 0
    # THEN its own sides were compared, key by key and byte by byte
    report = json.loads(capsys.readouterr().out)
    assert (report["source"], report["destination"], report["objects"]) == (
        "s3://src-bucket/in/",
        "s3://dst-bucket/out/",
        2,
    )
    # AND a difference made since shows, and an unknown job is a usage error
    s3.put_object(Bucket="dst-bucket", Key="out/b", Body=b"XX")
    assert main(["verify", "job-1", "--json"]) == 1
    assert main(["verify", "no-such-job"]) == 2


def test_verify_of_a_job_expects_only_what_the_job_copies(
    s3: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any, capsys: Any
) -> None:
    # GIVEN a job that copied only the CSV files, skipping an archived one
    fill(s3, "src-bucket", {"a.csv": b"1", "b.txt": b"22", "d/c.csv": b"333"})
    s3.put_object(Bucket="src-bucket", Key="cold.csv", Body=b"4", StorageClass="GLACIER")
    make_runner().run(job_message("job-1", select=Selection(include=["*.csv"])))
    copy_all()
    # WHEN it is verified by its id
    assert main(["verify", "job-1", "--json"]) == 0
    # THEN the two CSV files it copied were compared; the others were not expected
    report = json.loads(capsys.readouterr().out)
    assert (report["objects"], report["skipped"], report["differences"]) == (2, 2, [])
    # AND a destination file outside the selection is no concern of the job's, one inside is
    s3.put_object(Bucket="dst-bucket", Key="notes.txt", Body=b"5")
    assert main(["verify", "job-1"]) == 0
    assert "2 source objects are not the job's to copy" in capsys.readouterr().out
    s3.put_object(Bucket="dst-bucket", Key="e.csv", Body=b"6")
    assert main(["verify", "job-1", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(d["kind"], d["key"]) for d in report["differences"]] == [("extra", "e.csv")]


def test_report_of_a_job_lists_its_failures_and_of_an_unknown_job_exits_4(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    listed_job(store, "job-1")
    failure = FailureRecord(key="a/b", code="NoSuchKey", message="gone")
    counted_batch(store, "job-1", "job-1:x", copied=0, failed=1, failures=[failure])
    assert main(["report", "job-1"]) == 0
    assert "NoSuchKey" in capsys.readouterr().out
    assert main(["report", "ghost"]) == 4
    assert "error: no job 'ghost'" in capsys.readouterr().err


def test_errors_name_the_option_on_one_line(
    store: JobStore, resources: Resources, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack with one job WHEN commands get a bad bucket, a bad role, an unknown job,
    # or a file they cannot write
    listed_job(store, "job-1")
    codes = [
        main(["verify", "s3://good-bucket", "s3://Bad_Bucket"]),
        main(["grant", "--source", "s3://src-bucket", "--reader-role", "notarole"]),
        main(["grant", "--job", "ghost", "--reader-role", "arn:aws:iam::222222222222:role/r"]),
        main(["report", "job-1", "--csv", str(tmp_path / "no-such-folder" / "f.csv")]),
    ]
    # THEN each says why in one line, with the documented exit code
    lines = capsys.readouterr().err.splitlines()
    assert codes == [2, 2, 4, 2]
    assert lines == [
        "error: DESTINATION: bucket: invalid bucket name 'Bad_Bucket'",
        "error: --reader-role: 'notarole' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
        "error: no job 'ghost'",
        f"error: cannot write {tmp_path / 'no-such-folder' / 'f.csv'}: No such file or directory",
    ]


def test_verify_of_a_missing_bucket_says_which_side(
    s3: Any, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(s3, "src-bucket", {"a": b"1"})
    assert main(["verify", "s3://src-bucket", "s3://no-such-bucket"]) == 5
    assert capsys.readouterr().err.strip() == (
        "error: NoSuchBucket: cannot list the destination s3://no-such-bucket/:"
        " The specified bucket does not exist"
    )


def test_a_report_without_failures_says_so(
    store: JobStore, resources: Resources, capsys: pytest.CaptureFixture[str]
) -> None:
    listed_job(store, "job-1")
    assert main(["report", "job-1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no failed objects"


def test_one_output_as_json(resources: Resources, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outputs", "TableName", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"TableName": resources.table_name}


def test_an_unknown_id_is_waited_for_only_briefly_while_another_job_is_being_listed(
    sqs: Any, resources: Resources, store: JobStore
) -> None:
    # GIVEN a job message a coordinator holds (in flight, as during a long listing)
    sqs.send_message(QueueUrl=resources.jobs_queue_url, MessageBody="{}")
    sqs.receive_message(QueueUrl=resources.jobs_queue_url, VisibilityTimeout=600)
    context = Context.from_args(build_parser().parse_args(["status", "typo", "--watch"]))
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # each look takes ten seconds
        return now[0]

    # WHEN a mistyped id is watched THEN it is given up after the short patience, not ten minutes
    with pytest.raises(JobNotFoundError, match="typo"):
        wait_until_known(context, ["typo"], interval_s=0.0, clock=clock)
    assert TAKING_PATIENCE_S <= now[0] < PENDING_PATIENCE_S
