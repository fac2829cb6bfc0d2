"""A quick copier drain for the dead-letter, redrive and report tests (plain function).

Wired like the ``run_copier`` fixture, with one batch in flight at a time: the worker then waits
on its batch rather than long-polling an empty queue, so a drain takes milliseconds, not seconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from copier.objects import ObjectCopier
from copier.worker import Worker
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources
from s3migrator.sessions import RoleSessions, S3Clients
from s3migrator.settings import MiB


def drain(
    aws: Aws,
    resources: Resources,
    store: JobStore,
    s3: Any = None,
    *,
    max_item_attempts: int = 5,
    threshold: int = 8 * MiB,
    part_size: int = 5 * MiB,
    messages_in_flight: int = 1,
    idle_exit_s: float = 0.01,
) -> Worker:
    """Run a real Worker until the work queue has nothing visible left; returns it."""
    with (
        ThreadPoolExecutor(4, thread_name_prefix="copy") as copy_pool,
        ThreadPoolExecutor(4, thread_name_prefix="part") as parts_pool,
    ):
        worker = Worker(
            sqs=aws.sqs(),
            queue_url=resources.work_queue_url,
            store=store,
            copier=ObjectCopier(
                clients=S3Clients(RoleSessions(base=aws.session), default=s3 or aws.s3()),
                parts_pool=parts_pool,
                multipart_threshold_bytes=threshold,
                part_size_bytes=part_size,
            ),
            copy_pool=copy_pool,
            messages_in_flight=messages_in_flight,
            max_item_attempts=max_item_attempts,
            visibility_s=30,
            wait_time_s=0,
            idle_exit_s=idle_exit_s,
        )
        worker.serve()
    return worker
