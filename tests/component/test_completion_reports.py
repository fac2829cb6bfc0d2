"""Completion reports: the CSV, and the report a coordinator streams to S3 once a job has
finished, against moto."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import depth, fill, job_message, job_record, receive_all

from coordinator.completion_report import ReportEnd, upload_report, write_csv, write_report
from coordinator.service import Coordinator
from progress.refresh import refresh
from progress.status import statuses
from s3migrator.aws import Aws
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.errors import TransientError
from s3migrator.failures import FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, ReportLocation
from s3migrator.resources import Resources
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings

HEADER = [
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
]
PART = 5 * 1024**2
REPORTS = ReportLocation(bucket="reports-bucket", prefix="r/")


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def read_report(s3: Any, key: str = "r/job-1/failures.csv") -> list[list[str]]:
    report = s3.get_object(Bucket="reports-bucket", Key=key)
    assert report["ContentType"] == "text/csv"
    return parse_csv(report["Body"].read().decode())


def visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def dead_letter_only_batch(sqs: Any, resources: Resources) -> None:
    """Move the job's one queued batch to the work DLQ, as SQS's redrive policy would."""
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"])


# --- the CSV ---------------------------------------------------------------------------------


def test_csv_has_the_batch_operations_header_and_one_failed_row_per_failure() -> None:
    # GIVEN failures whose keys hold commas, quotes, newlines and non-ASCII characters
    failures = [
        FailureRecord(
            key='dir/a,b "quoted".txt',
            code="NoSuchKey",
            message="The specified key does not exist.",
            http_status=404,
            attempts=1,
        ),
        FailureRecord(
            key="line\nbreak\r\nand ünïcode",
            code="AccessDenied",
            message='denied, "really"',
            http_status=403,
            attempts=3,
            version_id="v1",
        ),
        FailureRecord(key="plain", code="DeadLettered", message="gone", attempts=10),
    ]
    out = io.StringIO(newline="")
    # WHEN written as the job's CSV
    rows = write_csv(out, job_record("job-1"), failures)
    # THEN a CSV reader gets the header and exactly the failures back, field for field
    assert rows == 3
    assert parse_csv(out.getvalue()) == [
        HEADER,
        [
            "src-bucket",
            'dir/a,b "quoted".txt',
            "",
            "failed",
            "NoSuchKey",
            "404",
            "The specified key does not exist. (attempts: 1)",
        ],
        [
            "src-bucket",
            "line\nbreak\r\nand ünïcode",
            "v1",
            "failed",
            "AccessDenied",
            "403",
            'denied, "really" (attempts: 3)',
        ],
        ["src-bucket", "plain", "", "failed", "DeadLettered", "", "gone (attempts: 10)"],
    ]


def test_csv_without_failures_is_only_the_header() -> None:
    out = io.StringIO(newline="")
    assert write_csv(out, job_record("job-1"), []) == 0
    assert parse_csv(out.getvalue()) == [HEADER]


# --- the report written to S3 ------------------------------------------------------------------


def settle(store: JobStore, sqs: Any, resources: Resources, coordinator: Coordinator) -> Any:
    """A progress run (which finishes the job and sends its report message), then the
    coordinator handling the jobs queue (which writes the report); the job's status after."""
    refresh(store, sqs, resources)
    coordinator.serve(once=True)
    (status,) = statuses(store, sqs, resources)
    return status


def test_finished_job_writes_its_failures_csv_to_its_report_location(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
) -> None:
    # GIVEN a job naming a report location, one of whose 3 objects is deleted after listing
    objects = {"a.txt": b"a", "b, c.txt": b"bb", "d.txt": b"ddd"}
    fill(s3, "src-bucket", objects)
    s3.create_bucket(Bucket="reports-bucket")
    make_runner().run(job_message("job-1", report=REPORTS))
    s3.delete_object(Bucket="src-bucket", Key="b, c.txt")
    drain(aws, resources, store)
    # WHEN progress runs: the job finishes at once, its report due
    (finished,) = refresh(store, sqs, resources)
    assert (finished.state, finished.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    record = store.get_job("job-1")
    assert record is not None and record.report_due is not None and record.report_url is None
    # AND a coordinator takes the report message from the jobs queue
    make_coordinator().serve(once=True)
    # THEN its CSV lists the failed object, and the job says where the report is
    assert read_report(s3) == [
        HEADER,
        [
            "src-bucket",
            "b, c.txt",
            "",
            "failed",
            "NoSuchKey",
            "404",
            "The specified key does not exist. (attempts: 1)",
        ],
    ]
    record = store.get_job("job-1")
    assert record is not None
    assert (record.report_due, record.report_url, record.error) == (
        None,
        "s3://reports-bucket/r/job-1/failures.csv",
        None,
    )
    # AND nothing is left in the jobs queue, and a later progress run sends no report again
    assert depth(sqs, resources.jobs_queue_url) == 0
    refresh(store, sqs, resources)
    assert depth(sqs, resources.jobs_queue_url) == 0


def test_a_large_report_is_streamed_in_parts_and_aborted_when_a_part_fails(
    s3: Any, store: JobStore
) -> None:
    # GIVEN 32,000 failures (about 12 MB of CSV), written in parts of S3's minimum, 5 MiB
    failures = (
        FailureRecord(key=f"dir/object-{i:06d}", code="AccessDenied", message="denied" * 50)
        for i in range(32_000)
    )
    s3.create_bucket(Bucket="reports-bucket")
    record = job_record("job-1").model_copy(update={"report": REPORTS})
    parts: list[int] = []
    s3.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: parts.append(len(params["Body"]))
    )
    # WHEN the report is uploaded
    url = upload_report(s3, record, failures, part_bytes=PART)
    # THEN it went up in parts of at least the part size (the last one smaller), and holds
    # every row
    assert url == "s3://reports-bucket/r/job-1/failures.csv"
    assert len(parts) == 3 and all(size >= PART for size in parts[:-1])
    rows = read_report(s3)
    assert rows[0] == HEADER and len(rows) == 32_001
    assert rows[-1][1] == "dir/object-031999"

    # GIVEN an upload whose third part fails
    def refuse_third(params: dict[str, Any], **_: Any) -> None:
        if params["PartNumber"] == 3:
            raise TransientError("InternalError", "injected")

    s3.meta.events.register("provide-client-params.s3.UploadPart", refuse_third)
    failures = (
        FailureRecord(key=f"other-{i:06d}", code="AccessDenied", message="denied" * 50)
        for i in range(32_000)
    )
    other = record.model_copy(update={"job_id": "job-2"})
    # WHEN it is uploaded THEN the error comes out, and no upload is left open
    with pytest.raises(TransientError):
        upload_report(s3, other, failures, part_bytes=PART)
    assert s3.list_multipart_uploads(Bucket="reports-bucket").get("Uploads", []) == []


def test_report_that_cannot_be_written_is_named_in_the_jobs_error(
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
) -> None:
    # GIVEN a job naming a report bucket that does not exist, whose batch was dead-lettered
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    # WHEN progress finishes it and a coordinator tries to write its report
    status = settle(store, sqs, resources, make_coordinator())
    # THEN it has finished, and its error says the report was not written and why
    assert (status.state, status.percent) == (JobState.COMPLETED_WITH_FAILURES, 100)
    assert status.error is not None
    assert status.error.startswith("report not written: ")
    assert "NoSuchBucket" in status.error
    # AND the report is no longer due: no report message is sent again
    refresh(store, sqs, resources)
    assert depth(sqs, resources.jobs_queue_url) == 0


def test_a_report_still_due_is_sent_again_after_the_grace(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a finished job whose report message was lost (taken from the queue, never handled)
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    refresh(store, sqs, resources)
    assert len(receive_all(sqs, resources.jobs_queue_url)) == 1
    # WHEN progress runs again before the grace, and then after it
    refresh(store, sqs, resources)
    sent_before = visible(sqs, resources.jobs_queue_url)
    store._clock = lambda: time.time() + Settings().resume_grace_s + 1
    refresh(store, sqs, resources)
    # THEN only the run after the grace sent the report message again
    assert sent_before == 0
    (message,) = receive_all(sqs, resources.jobs_queue_url)
    assert json.loads(message["Body"]) == {"report": "job-1"}


def test_a_report_for_a_run_a_redrive_reopened_is_not_recorded(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a finished job whose report is due, then reopened by a redrive
    fill(s3, "src-bucket", {"a": b"1"})
    s3.create_bucket(Bucket="reports-bucket")
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    refresh(store, sqs, resources)
    first = store.get_job("job-1")
    assert first is not None and first.report_due is not None
    redrive(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    # WHEN a coordinator late with the first run's report records it
    recorded = store.report_written("job-1", first.epoch, "s3://reports-bucket/stale")
    # THEN it is refused, and the reopened job has no report due and none recorded
    assert not recorded
    reopened = store.get_job("job-1")
    assert reopened is not None
    assert (reopened.state, reopened.report_due, reopened.report_url) == (
        JobState.RUNNING,
        None,
        None,
    )
    # AND a report message handled now writes nothing
    assert (
        write_report(store, s3_clients(aws, Settings(), default=s3), "job-1") is ReportEnd.NOT_DUE
    )


def test_redriven_job_that_succeeds_keeps_no_error_from_its_first_finish(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    make_coordinator: Any,
) -> None:
    # GIVEN a job that finished with failures and without its report (no such bucket)
    fill(s3, "src-bucket", {"a": b"1", "b": b"22"})
    make_runner().run(job_message("job-1", report=REPORTS))
    dead_letter_only_batch(sqs, resources)
    first = settle(store, sqs, resources, make_coordinator())
    assert first.error is not None
    # WHEN the report bucket is created, the job redriven, copied and settled again
    s3.create_bucket(Bucket="reports-bucket")
    redrive(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    drain(aws, resources, store)
    done = settle(store, sqs, resources, make_coordinator())
    # THEN it succeeded, its report (now empty) was written, and no stale error remains
    assert (done.state, done.objects_copied, done.objects_failed) == (JobState.SUCCEEDED, 2, 0)
    assert read_report(s3, "r/job-1/redrive-1/failures.csv") == [HEADER]
    assert done.error is None


def test_a_slow_report_writer_of_an_earlier_run_never_overwrites_the_recorded_report(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job that completed with one failure, whose report writer is slow to upload
    fill(s3, "src-bucket", {"a": b"A", "b": b"B"})
    s3.create_bucket(Bucket="reports-bucket")
    report = ReportLocation(bucket="reports-bucket", prefix="r/")
    make_runner().run(job_message("job-1", report=report))
    s3.delete_object(Bucket="src-bucket", Key="b")
    drain(aws, resources, store)
    refresh(store, sqs, resources)
    slow_s3 = aws.s3()
    meanwhile_done: list[ReportEnd] = []

    def meanwhile(**_: Any) -> None:
        if meanwhile_done:
            return
        # the cause is fixed, a redrive succeeds, and its own report is written
        s3.put_object(Bucket="src-bucket", Key="b", Body=b"B")
        redrive(store, sqs, resources, "job-1", Settings())
        drain(aws, resources, store)
        refresh(store, sqs, resources)
        meanwhile_done.append(write_report(store, s3_clients(aws, Settings(), default=s3), "job-1"))

    slow_s3.meta.events.register("before-call.s3.PutObject", meanwhile)
    # WHEN the slow writer of the first run uploads after all that
    write_report(store, s3_clients(aws, Settings(), default=slow_s3), "job-1")
    # THEN the recorded report is the second run's, with no failure in it
    record = store.get_job("job-1")
    assert record is not None and record.state is JobState.SUCCEEDED
    assert meanwhile_done == [ReportEnd.WRITTEN]
    assert record.report_url == "s3://reports-bucket/r/job-1/redrive-1/failures.csv"
    assert read_report(s3, "r/job-1/redrive-1/failures.csv")[1:] == []
