"""Completion reports: the job's failed objects as CSV, shaped like S3 Batch Operations' report.

Columns: Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage. Only
failed objects are listed (copied objects leave no per-object record, by design: no per-object
DynamoDB write); the job's counters give the totals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from s3migrator.models import FailureRecord, JobRecord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

COLUMNS = [
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
]


def write_csv(out: TextIO, record: JobRecord, failures: Iterable[FailureRecord]) -> int:
    """Write the header and one row per failed object; returns the number of rows."""
    bucket = record.spec.source.bucket if record.spec else ""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    rows = 0
    for failure in failures:
        writer.writerow(
            [
                bucket,
                failure.key,
                failure.version_id or "",
                "failed",
                failure.code,
                failure.http_status if failure.http_status is not None else "",
                f"{failure.message} (attempts: {failure.attempts})",
            ]
        )
        rows += 1
    return rows


def report_key(record: JobRecord) -> str:
    assert record.report is not None
    return f"{record.report.prefix}{record.job_id}/failures.csv"


def upload_report(s3: S3Client, record: JobRecord, failures: Iterable[FailureRecord]) -> str:
    """Write the CSV to the job's report location; returns its s3:// URL."""
    assert record.report is not None
    buffer = io.StringIO()
    write_csv(buffer, record, failures)
    key = report_key(record)
    s3.put_object(
        Bucket=record.report.bucket,
        Key=key,
        Body=buffer.getvalue().encode(),
        ContentType="text/csv",
    )
    return f"s3://{record.report.bucket}/{key}"
