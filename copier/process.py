"""The copier built from settings: the one wiring its task entrypoint and the tests use."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from copier.direct_copies import DirectCopies
from copier.objects import ObjectCopier
from copier.protection import TaskProtection
from copier.split import SplitCopier
from copier.worker import Worker
from s3migrator.aws import Aws, task_aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings
from s3migrator.signals import stop_on_signals

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def pool_connections(settings: Settings) -> int:
    """HTTP connections for every thread that can hold one at once.

    Object copies plus part copies plus the loop's own calls: a smaller pool makes threads wait
    on connections, and a copier that waits on its own connections hangs.
    """
    return settings.copy_concurrency + settings.part_concurrency + 4


@contextmanager
def built_worker(
    settings: Settings,
    aws: Aws,
    resources: Resources | None = None,
    *,
    store: JobStore | None = None,
    s3: S3Client | None = None,
) -> Iterator[Worker]:
    """A worker wired from ``settings``; its thread pools live as long as the block.

    ``store`` and ``s3`` (the client for sides without a role) may be given by a test that
    watches them; everything else is what the task runs.
    """
    resources = resources or resolve(aws, settings)
    direct = DirectCopies() if settings.direct_copies else None
    clients = s3_clients(
        aws, settings, default=s3, on_client=direct.attach_session if direct else None
    )
    store = store or JobStore(
        aws.dynamodb(), resources.table_name, retention_days=settings.job_retention_days
    )
    sqs = aws.sqs()
    owner = uuid.uuid4().hex[:12]
    with (
        ThreadPoolExecutor(settings.copy_concurrency, thread_name_prefix="copy") as copy_pool,
        ThreadPoolExecutor(settings.part_concurrency, thread_name_prefix="part") as parts_pool,
    ):
        copier = ObjectCopier(
            clients=clients,
            parts_pool=parts_pool,
            multipart_threshold_bytes=settings.multipart_threshold_bytes,
            part_size_bytes=settings.part_size_bytes,
            direct=direct,
        )
        split = SplitCopier(
            sqs=sqs,
            queue_url=resources.work_queue_url,
            store=store,
            copier=copier,
            parts_pool=parts_pool,
            owner=owner,
            split_object_bytes=settings.split_object_bytes,
            part_batch_bytes=settings.part_batch_bytes,
            visibility_s=settings.work_visibility_s,
            max_item_attempts=settings.max_item_attempts,
            retry_delay_base_s=settings.retry_delay_base_s,
        )
        yield Worker(
            sqs=sqs,
            queue_url=resources.work_queue_url,
            store=store,
            copier=copier,
            split=split,
            owner=owner,
            copy_pool=copy_pool,
            messages_in_flight=settings.messages_in_flight,
            visibility_s=settings.work_visibility_s,
            wait_time_s=settings.wait_time_s,
            idle_exit_s=settings.idle_exit_s,
            max_item_attempts=settings.max_item_attempts,
            retry_delay_base_s=settings.retry_delay_base_s,
            claim_after_s=settings.claim_after_s,
            restore_poll_s=settings.restore_poll_s,
            max_restore_waits=settings.max_restore_waits,
            stop_grace_s=settings.stop_grace_s,
            # ECS sets this variable in every task; off ECS there is nothing to protect.
            protection=TaskProtection(os.environ.get("ECS_AGENT_URI")),
        )


def run(settings: Settings, *, profile: str | None = None) -> int:
    """The copier task: drain the work queue until SIGTERM (or idle, with ``idle_exit_s``)."""
    aws = task_aws(settings, profile, max_pool_connections=pool_connections(settings))
    with built_worker(settings, aws) as worker:
        stop_on_signals(worker.stop)
        log.info(
            "copier serving %s with %d copies in flight",
            worker.queue_url,
            settings.copy_concurrency,
        )
        abandoned = worker.serve()
        log.info("copier stopped after %d batches", worker.batches_settled)
        if abandoned:
            # Copies still running belong to released batches that another copier redoes;
            # exit now rather than wait for their threads.
            logging.shutdown()
            os._exit(0)
    return 0
