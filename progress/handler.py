"""The progress Lambda: a thin shell over ``progress.report.refresh``.

Runs every minute from an EventBridge schedule. Metrics go out in embedded metric format through
the log stream, so they cost no PutMetricData calls.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from progress.report import refresh
from progress.scaling import desired_copiers
from s3migrator.aws import make_aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import resolve
from s3migrator.settings import Settings

logger = Logger(service="s3migrator-progress")
metrics = Metrics(namespace="s3migrator", service="progress")
TARGET_BACKLOG_PER_TASK = 4


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings()
    aws = make_aws()
    resources = resolve(aws, settings)
    statuses = refresh(
        JobStore(aws.dynamodb(), resources.table_name),
        aws.sqs(),
        resources,
        job_id=event.get("job_id"),
        s3=aws.s3(),
    )
    running = [s for s in statuses if s.state.value == "running"]
    if statuses:
        depths = statuses[0]
        metrics.add_metric("WorkQueueVisible", MetricUnit.Count, depths.queue_visible)
        metrics.add_metric("WorkQueueInFlight", MetricUnit.Count, depths.queue_in_flight)
        metrics.add_metric("WorkDlqVisible", MetricUnit.Count, depths.dlq_visible)
        metrics.add_metric(
            "DesiredCopiers",
            MetricUnit.Count,
            desired_copiers(
                visible=depths.queue_visible,
                in_flight=depths.queue_in_flight,
                target_backlog_per_task=TARGET_BACKLOG_PER_TASK,
                max_tasks=1000,
            ),
        )
    metrics.add_metric("RunningJobs", MetricUnit.Count, len(running))
    for status in running:
        logger.info("job progress", extra=status.model_dump(mode="json"))
    return {"jobs": [s.model_dump(mode="json") for s in statuses]}
