"""A quick copier drain for the component tests (plain function), built by the product factory.

With one batch in flight at a time, the worker waits on its batch rather than long-polling an
empty queue, so a drain takes milliseconds, not seconds.
"""

from __future__ import annotations

from typing import Any

from copier.process import built_worker
from copier.worker import Worker
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources
from s3migrator.settings import MiB, Settings


def drain(
    aws: Aws,
    resources: Resources,
    store: JobStore,
    s3: Any = None,
    *,
    max_item_attempts: int = 5,
    retry_delay_base_s: float = 0.0,
    threshold: int = 8 * MiB,
    part_size: int = 5 * MiB,
    messages_in_flight: int = 1,
    idle_exit_s: float = 0.01,
    max_restore_waits: int = 192,
) -> Worker:
    """Run a real Worker until the work queue has nothing visible left; returns it."""
    settings = Settings(
        copy_concurrency=4,
        part_concurrency=4,
        multipart_threshold_bytes=threshold,
        part_size_bytes=part_size,
        messages_in_flight=messages_in_flight,
        max_item_attempts=max_item_attempts,
        retry_delay_base_s=retry_delay_base_s,
        work_visibility_s=30,
        wait_time_s=0,
        idle_exit_s=idle_exit_s,
        # Objects waiting for their restore are looked at again at once.
        restore_poll_s=0,
        max_restore_waits=max_restore_waits,
    )
    with built_worker(settings, aws, resources, store=store, s3=s3) as worker:
        worker.serve()
    return worker
