"""Shared steps of the end-to-end stories."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Stack


def fill(stack: Stack, bucket: str, objects: dict[str, bytes], workers: int = 8) -> None:
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)

    def put(item: tuple[str, bytes]) -> None:
        s3.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, objects.items()))


def small_objects(count: int, prefix: str = "obj/") -> dict[str, bytes]:
    return {f"{prefix}{i:05d}.bin": os.urandom(i % 700) for i in range(count)}


def jobs_queue_url(stack: Stack) -> str:
    return stack.resources().jobs_queue_url


def send_with_aws_cli(stack: Stack, body: str | dict[str, Any]) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    sent = stack.aws(
        "sqs", "send-message", "--queue-url", jobs_queue_url(stack), "--message-body", text
    )
    assert sent.returncode == 0, sent.stderr
