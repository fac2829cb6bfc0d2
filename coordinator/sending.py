"""Sending work batches to the work queue: the listing and a redrive go through this one path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from coordinator.batching import group_for_send
from s3migrator.sqs.queues import send_bodies

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.work import WorkBatch


def send_batches(
    sqs: SQSClient, queue_url: str, batches: Sequence[WorkBatch], *, max_total_bytes: int
) -> None:
    """Send every batch, as few SendMessageBatch calls as the entry and size caps allow."""
    bodies = [batch.body() for batch in batches]
    for group in group_for_send(bodies, max_total_bytes=max_total_bytes):
        send_bodies(sqs, queue_url, group)
