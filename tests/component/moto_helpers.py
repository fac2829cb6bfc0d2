"""Helpers shared by the component tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from s3migrator.failures import FailureRecord
from s3migrator.models import CopySpec, JobMessage, JobRecord, Location, Mode
from s3migrator.work import BatchOutcome, WorkBatch, WorkItem


def job_message(
    job_id: str | None = "job-1",
    source: str = "src-bucket",
    destination: str = "dst-bucket",
    **kw: Any,
) -> JobMessage:
    return JobMessage(
        job_id=job_id,
        mode=Mode.COPY,
        source=Location(bucket=source, prefix=kw.pop("source_prefix", "")),
        destination=Location(bucket=destination, prefix=kw.pop("destination_prefix", "")),
        **kw,
    )


def job_record(job_id: str = "job-1") -> JobRecord:
    now = time.time()
    return JobRecord(
        job_id=job_id,
        mode=Mode.COPY,
        spec=CopySpec(
            job_id=job_id,
            source=Location(bucket="src-bucket"),
            destination=Location(bucket="dst-bucket"),
        ),
        created_at=now,
        updated_at=now,
    )


def fill(s3: Any, bucket: str, keys: dict[str, bytes], **put_kwargs: Any) -> None:
    """Create ``bucket`` (if needed) and put every key with its body."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    for key, body in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, **put_kwargs)


def receive_all(sqs: Any, queue_url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every visible message (made invisible for a minute), in no particular order."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, **kwargs
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def depth(sqs: Any, queue_url: str) -> int:
    """Visible plus in-flight messages."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def counted_batch(
    store: Any,
    job_id: str,
    batch_id: str,
    *,
    copied: int,
    failed: int = 0,
    bytes_copied: int = 0,
    failures: list[FailureRecord] | None = None,
) -> bool:
    """Define a batch of ``copied + failed`` objects and count it, as a copier would."""
    items = [WorkItem(key=f"{batch_id}/{i}", size=1, etag='"e"') for i in range(copied + failed)]
    batch = WorkBatch.of(batch_id, job_record(job_id).spec, items)  # type: ignore[arg-type]
    store.define_batches([batch])
    failures = failures or [
        FailureRecord(key=item.key, code="AccessDenied", message="denied")
        for item in items[copied:]
    ]
    outcome = BatchOutcome(copied=items[:copied], bytes_copied=bytes_copied, failures=failures)
    return bool(store.batches.count(batch, outcome))


def resume_falls_due(store: Any, clock: Any, job_id: str = "job-1") -> None:
    """Move the test's clock to when the job's resume message is due, as SQS delivers it (a
    resume that comes earlier is ignored)."""
    record = store.get_job(job_id)
    due = record.resume_due if record is not None else None
    if due is not None and due > clock():
        clock.advance(due - clock())


def run_killed_before_checkpoint(runner: Any, message: Any) -> Any:
    """Run a job with a coordinator that dies at its first checkpoint write, after defining and
    sending its group of batches; returns how the run ended."""
    real_save = runner.store.save_checkpoint
    saves = {"n": 0}

    def killed_at_first_save(*args: Any, **kwargs: Any) -> Any:
        saves["n"] += 1
        if saves["n"] == 1:
            raise RuntimeError("coordinator killed before its checkpoint")
        return real_save(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner.store, "save_checkpoint", killed_at_first_save)
        return runner.run(message)


def without_checksum(s3: Any) -> Any:
    """A client of the same endpoint that uploads without a checksum (SDKs add a CRC32 to every
    upload by default; older objects, and other clients', have none)."""
    config = s3.meta.config.merge(Config(request_checksum_calculation="when_required"))
    return boto3.client("s3", region_name=s3.meta.region_name, config=config)


def cap_work_queue(sqs: Any, resources: Any, cap_bytes: int) -> None:
    """The work queue takes messages of at most ``cap_bytes``, as a stack may configure it."""
    sqs.set_queue_attributes(
        QueueUrl=resources.work_queue_url, Attributes={"MaximumMessageSize": str(cap_bytes)}
    )
