"""Sending job messages: exactly what any other SQS client would send."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3migrator.models import JobMessage, Location, ReportLocation

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` into (bucket, prefix); raises ValueError on anything else."""
    if not url.startswith("s3://"):
        raise ValueError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix


def location(url: str, **fields: str | None) -> Location:
    bucket, prefix = parse_s3_url(url)
    return Location(bucket=bucket, prefix=prefix, **{k: v for k, v in fields.items() if v})


def report_location(url: str) -> ReportLocation:
    bucket, prefix = parse_s3_url(url)
    return ReportLocation(bucket=bucket, prefix=prefix) if prefix else ReportLocation(bucket=bucket)


def submit(sqs: SQSClient, jobs_queue_url: str, message: JobMessage) -> JobMessage:
    """Send the job message (with a job id, generated when missing); returns what was sent."""
    job = message.with_id()
    sqs.send_message(
        QueueUrl=jobs_queue_url, MessageBody=job.model_dump_json(exclude_defaults=True)
    )
    return job
