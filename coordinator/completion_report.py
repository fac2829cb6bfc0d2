"""Completion reports: the job's failed objects as CSV, shaped like S3 Batch Operations' report.

Columns: Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage. Only
failed objects are listed (copied objects leave no per-object record, by design: no per-object
DynamoDB write); the job's counters give the totals.

A report is written after its job has finished, never before: ``finish`` marks it due, the
progress function sends a report message, and a coordinator (no time or memory limit of a
Lambda) streams the rows into a multipart upload, a part at a time, so a job with millions of
failures takes no more memory than one part. The report is tied to the job's epoch: a redrive
that reopens the job makes a report still being written for the earlier run a no-op.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

from coordinator.csv_cells import safe_cell
from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import PermanentError
from s3migrator.failures import FailureRecord
from s3migrator.models import JobRecord, JobState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.jobstore import JobStore
    from s3migrator.sessions import S3Clients

log = logging.getLogger(__name__)

COLUMNS = [
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
]
# Parts of a multipart upload are at least 5 MiB (all but the last); 8 MiB keeps 10,000 parts
# (S3's limit) above 80 GB of CSV, far beyond any job's failures.
PART_BYTES = 8 * 1024**2


class ReportEnd(StrEnum):
    WRITTEN = "written"
    NOT_DUE = "not due"  # no report pending for the job (written already, or reopened)
    REFUSED = "refused"  # S3 refused it for good (no such bucket, access denied): on the job


def rows(record: JobRecord, failures: Iterable[FailureRecord]) -> Iterator[list[str]]:
    """The header, then one row per failed object."""
    bucket = record.spec.source.bucket if record.spec else ""
    yield COLUMNS
    for failure in failures:
        cells = [
            bucket,
            failure.key,
            failure.version_id or "",
            "failed",
            failure.code,
            str(failure.http_status) if failure.http_status is not None else "",
            f"{failure.message} (attempts: {failure.attempts})",
        ]
        yield [safe_cell(cell) for cell in cells]


def write_csv(out: TextIO, record: JobRecord, failures: Iterable[FailureRecord]) -> int:
    """Write the header and one row per failed object; returns the number of rows."""
    writer = csv.writer(out)
    count = -1
    for row in rows(record, failures):
        writer.writerow(row)
        count += 1
    return count


def report_key(record: JobRecord) -> str:
    """Each run of a job has its own key, so a slow writer of an earlier run (a redrive has
    reopened the job since) can only overwrite that run's report, never the one recorded."""
    assert record.report is not None
    run = f"redrive-{record.epoch}/" if record.epoch else ""
    return f"{record.report.prefix}{record.job_id}/{run}failures.csv"


def upload_report(
    s3: S3Client,
    record: JobRecord,
    failures: Iterable[FailureRecord],
    part_bytes: int = PART_BYTES,
) -> str:
    """Stream the CSV to the job's report location; returns its s3:// URL.

    Up to one part it is a single PutObject; beyond, a multipart upload that is aborted if
    anything fails on the way, so no half-written report stays stored and billed. ``s3`` is
    the destination side's client, and the report bucket must be in the destination's
    account: a job writes its report only where it may write its copies.
    """
    assert record.report is not None and record.spec is not None
    bucket, key = record.report.bucket, report_key(record)
    owner = record.spec.destination.expected_owner()
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    upload_id: str | None = None
    parts: list[dict[str, object]] = []
    try:
        for row in rows(record, failures):
            writer.writerow(row)
            if text.tell() < part_bytes:
                continue
            if upload_id is None:
                with translated():
                    upload_id = s3.create_multipart_upload(
                        Bucket=bucket, Key=key, ContentType="text/csv", **owner
                    )["UploadId"]
            parts.append(_upload_part(s3, bucket, key, upload_id, len(parts) + 1, text, owner))
        if upload_id is None:
            with translated():
                s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=text.getvalue().encode(),
                    ContentType="text/csv",
                    **owner,
                )
        else:
            if text.tell():
                parts.append(_upload_part(s3, bucket, key, upload_id, len(parts) + 1, text, owner))
            with translated():
                s3.complete_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                    **owner,
                )
    except BaseException:
        if upload_id is not None:
            _abort(s3, bucket, key, upload_id, owner)
        raise
    return f"s3://{bucket}/{key}"


def _upload_part(
    s3: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    text: io.StringIO,
    owner: dict[str, Any],
) -> dict[str, object]:
    body = text.getvalue().encode()
    text.seek(0)
    text.truncate()
    with translated():
        etag = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **owner
        )["ETag"]
    return {"PartNumber": number, "ETag": etag}


def _abort(s3: S3Client, bucket: str, key: str, upload_id: str, owner: dict[str, Any]) -> None:
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, **owner)
    except PROVIDER_ERRORS as exc:
        # The bucket's AbortIncompleteMultipartUpload rule, if any, cleans it up later.
        log.warning("report upload %s not aborted: %s", upload_id, translate(exc))


def write_report(store: JobStore, clients: S3Clients, job_id: str) -> ReportEnd:
    """Write a finished job's due report and record where it is.

    Raises on transient errors (the report message comes back, or the progress function sends
    another); a refusal for good is recorded on the job instead.
    """
    record = store.get_job(job_id)
    if (
        record is None
        or record.state is JobState.RUNNING
        or record.report is None
        or record.report_due is None
    ):
        return ReportEnd.NOT_DUE
    try:
        assert record.spec is not None  # a rejected job has no report
        s3 = clients.for_location(record.spec.destination, record.spec)
        url = upload_report(s3, record, store.batches.failures_now(job_id))
    except PermanentError as exc:
        reason = f"report not written: {exc}"
        store.report_refused(
            job_id, record.epoch, f"{record.error}; {reason}" if record.error else reason
        )
        log.error("job %s: %s", job_id, reason)
        return ReportEnd.REFUSED
    if not store.report_written(job_id, record.epoch, url):
        return ReportEnd.NOT_DUE
    log.info("job %s: report written to %s", job_id, url)
    return ReportEnd.WRITTEN
