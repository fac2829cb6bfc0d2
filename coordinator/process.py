"""The coordinator built from settings: the one wiring its task entrypoint and the tests use."""

from __future__ import annotations

import logging

from coordinator.authority import Authority
from coordinator.jobs import JobRunner
from coordinator.service import Coordinator
from s3migrator.aws import Aws, task_aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings
from s3migrator.signals import stop_on_signals

log = logging.getLogger(__name__)


def build_runner(
    settings: Settings, aws: Aws, resources: Resources, *, store: JobStore | None = None
) -> JobRunner:
    """What runs one job; ``store`` may be given (a test's, with its own clock)."""
    return JobRunner(
        store=store
        or JobStore(
            aws.dynamodb(), resources.table_name, retention_days=settings.job_retention_days
        ),
        clients=s3_clients(aws, settings),
        sqs=aws.sqs(),
        work_queue_url=resources.work_queue_url,
        jobs_queue_url=resources.jobs_queue_url,
        settings=settings,
        region=aws.region,
        authority=Authority.from_settings(settings, aws.session),
    )


def build_coordinator(
    settings: Settings,
    aws: Aws,
    resources: Resources | None = None,
    *,
    store: JobStore | None = None,
) -> Coordinator:
    """The jobs queue loop around a job runner, every part from ``settings``."""
    resources = resources or resolve(aws, settings)
    return Coordinator(
        runner=build_runner(settings, aws, resources, store=store),
        sqs=aws.sqs(),
        resources=resources,
        visibility_s=settings.jobs_visibility_s,
        wait_time_s=settings.wait_time_s,
    )


def run(settings: Settings, *, profile: str | None = None, once: bool = False) -> int:
    """The coordinator task: serve the jobs queue until SIGTERM (or, ``once``, until idle)."""
    coordinator = build_coordinator(settings, task_aws(settings, profile))
    stop_on_signals(coordinator.stop)
    log.info("coordinator serving %s", coordinator.resources.jobs_queue_url)
    coordinator.serve(once=once)
    return 0
