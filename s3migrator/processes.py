"""Entrypoints of the long-running processes (the Fargate tasks): wiring, signals, settings."""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from coordinator.jobs import JobRunner
from coordinator.service import Coordinator
from copier.objects import ObjectCopier
from copier.worker import Worker
from s3migrator.aws import Aws, make_aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import resolve
from s3migrator.sessions import RoleSessions, S3Clients
from s3migrator.settings import Settings

log = logging.getLogger(__name__)


def s3_clients(aws: Aws, settings: Settings) -> S3Clients:
    """S3 clients per side of a job, with refreshable assumed-role sessions."""
    sessions = RoleSessions(
        base=aws.session,
        duration_s=settings.role_session_s,
        refresh_margin_s=settings.refresh_margin_s,
    )
    return S3Clients(sessions, default=aws.s3(), config=aws.config())


def stop_on_sigterm(stop: threading.Event) -> None:
    """ECS sends SIGTERM before it stops a task; finish or release held work, then exit 0."""

    def handler(signum: int, _frame: object) -> None:
        log.info("received signal %d; stopping after the work in hand", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_coordinator(settings: Settings, *, profile: str | None, once: bool = False) -> int:
    aws = make_aws(profile, retry_mode=settings.retry_mode, max_attempts=settings.max_attempts)
    resources = resolve(aws, settings)
    runner = JobRunner(
        store=JobStore(aws.dynamodb(), resources.table_name),
        clients=s3_clients(aws, settings),
        sqs=aws.sqs(),
        work_queue_url=resources.work_queue_url,
        settings=settings,
        region=aws.region,
    )
    stop_on_sigterm(runner.stop)
    coordinator = Coordinator(
        runner=runner,
        sqs=aws.sqs(),
        resources=resources,
        visibility_s=settings.jobs_visibility_s,
        wait_time_s=settings.wait_time_s,
    )
    log.info("coordinator serving %s", resources.jobs_queue_url)
    coordinator.serve(once=once)
    return 0


def run_copier(settings: Settings, *, profile: str | None) -> int:
    # The HTTP pool is sized for every thread that can hold a connection at once: object
    # copies plus part copies plus the loop's own calls (a smaller pool makes threads wait on
    # connections, and a copier that waits on its own connections hangs).
    pool_size = settings.copy_concurrency + settings.part_concurrency + 4
    aws = make_aws(
        profile,
        retry_mode=settings.retry_mode,
        max_attempts=settings.max_attempts,
        max_pool_connections=pool_size,
    )
    resources = resolve(aws, settings)
    clients = s3_clients(aws, settings)
    with (
        ThreadPoolExecutor(settings.copy_concurrency, thread_name_prefix="copy") as copy_pool,
        ThreadPoolExecutor(settings.part_concurrency, thread_name_prefix="part") as parts_pool,
    ):
        worker = Worker(
            sqs=aws.sqs(),
            queue_url=resources.work_queue_url,
            store=JobStore(aws.dynamodb(), resources.table_name),
            copier=ObjectCopier(
                clients=clients,
                parts_pool=parts_pool,
                multipart_threshold_bytes=settings.multipart_threshold_bytes,
                part_size_bytes=settings.part_size_bytes,
            ),
            copy_pool=copy_pool,
            messages_in_flight=settings.messages_in_flight,
            visibility_s=settings.work_visibility_s,
            wait_time_s=settings.wait_time_s,
            idle_exit_s=settings.idle_exit_s,
            max_item_attempts=settings.max_item_attempts,
            stop_grace_s=settings.stop_grace_s,
        )
        stop_on_sigterm(worker.stop)
        log.info(
            "copier serving %s with %d copies in flight",
            resources.work_queue_url,
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
