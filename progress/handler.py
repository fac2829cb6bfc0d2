"""The progress Lambda: a thin shell over ``progress.refresh.refresh``.

Two callers: the EventBridge schedule (every minute), which refreshes every job that needs it
and publishes the scaling metrics, and the function URL (AWS_IAM auth): the status API and the
dashboard (``progress.api``). Metrics go out in embedded metric format through the log stream,
so they cost no PutMetricData calls, and only while there is work, so an idle stack publishes
nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress.api import app
from progress.process import build_progress
from progress.scaling import backlog_per_copier, copiers_needed_from_zero
from s3migrator.aws import Aws, make_aws
from s3migrator.job_status import JobStatus, QueueDepths
from s3migrator.models import JobState
from s3migrator.settings import Settings

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

logger = Logger(service="progress")
metrics = Metrics(service="progress")
tracer = Tracer(service="progress")
# A job that ended within this many seconds counts once for the job-failure alarm (the
# scheduled run reads the jobs that ended within it, whoever ended them).
ENDED_WINDOW_S = 60
DEFAULT_NAMESPACE = "s3migrator"


def running_copiers(aws: Aws, settings: Settings) -> int:
    if not (settings.cluster and settings.copier_service):
        return 0
    ecs: Any = aws.session.client("ecs", region_name=aws.region)
    services = ecs.describe_services(cluster=settings.cluster, services=[settings.copier_service])
    return sum(int(s.get("runningCount", 0)) for s in services.get("services", []))


def publish(statuses: list[JobStatus], depths: QueueDepths, running: int, now: float) -> None:
    """Scaling and progress metrics; nothing when there is no work and no copier."""
    visible, in_flight = depths.queue_visible, depths.queue_in_flight
    active = [s for s in statuses if s.state is JobState.RUNNING]
    ended_badly = [
        s
        for s in statuses
        if s.state in (JobState.FAILED, JobState.COMPLETED_WITH_FAILURES)
        and s.finished_at is not None
        and now - s.finished_at <= ENDED_WINDOW_S
    ]
    if not (active or ended_badly or visible or in_flight or running):
        return
    metrics.add_metric("WorkQueueVisible", MetricUnit.Count, visible)
    metrics.add_metric("WorkQueueInFlight", MetricUnit.Count, in_flight)
    metrics.add_metric("WorkDlqVisible", MetricUnit.Count, depths.dlq_visible)
    metrics.add_metric("RunningCopiers", MetricUnit.Count, running)
    metrics.add_metric(
        "BacklogPerCopier", MetricUnit.Count, backlog_per_copier(visible, in_flight, running)
    )
    metrics.add_metric(
        "CopiersNeededFromZero",
        MetricUnit.Count,
        copiers_needed_from_zero(visible, in_flight, running),
    )
    metrics.add_metric("RunningJobs", MetricUnit.Count, len(active))
    # Jobs whose listing is not done keep the coordinator running (its scale-in alarm).
    metrics.add_metric(
        "JobsNeedingCoordinator",
        MetricUnit.Count,
        sum(not (s.phase.copies and s.enumeration_complete) for s in active),
    )
    metrics.add_metric("JobsEndedWithFailures", MetricUnit.Count, len(ended_badly))
    metrics.add_metric("ObjectsCopied", MetricUnit.Count, sum(s.objects_copied for s in active))
    metrics.add_metric("ObjectsFailed", MetricUnit.Count, sum(s.objects_failed for s in active))
    metrics.add_metric("BytesCopied", MetricUnit.Bytes, sum(s.bytes_copied for s in active))


def handler_for(new_aws: Callable[[], Aws] = make_aws) -> Handler:
    """The function's handler, building its clients with ``new_aws`` on every invocation.

    Settings and clients are built per call, never at import: the function's environment names
    the stack's resources, and tests set it per case (and pass a ``new_aws`` whose session
    records the calls the handler makes).
    """

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        aws = new_aws()
        if "http" in event.get("requestContext", {}):
            # The routes' clients; the resolver clears its context after each request.
            app.context["aws"] = aws
            return app.resolve(event, context)
        settings = Settings()
        # Read per call, not at import: the stack names the namespace after itself.
        metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
        progress = build_progress(settings, aws)
        statuses = progress.refresh(event.get("job_id"), ended_within_s=ENDED_WINDOW_S)
        # Every status carries the depths; a run that served no job read none.
        depths = (
            QueueDepths.model_validate(statuses[0], from_attributes=True)
            if statuses
            else progress.depths()
        )
        publish(statuses, depths, running_copiers(aws, settings), time.time())
        for status in statuses:
            if status.state is JobState.RUNNING:
                logger.info("job progress", extra=status.model_dump(mode="json"))
        return {"jobs": [s.model_dump(mode="json") for s in statuses]}

    return handle


lambda_handler = handler_for()
