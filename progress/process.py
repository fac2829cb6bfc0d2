"""The progress function built from settings: what the Lambda, the CLI and the tests call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from progress.refresh import refresh
from progress.status import JobsPage, read_depths, status_page, statuses
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from s3migrator.aws import Aws
    from s3migrator.job_status import JobStatus, QueueDepths
    from s3migrator.settings import Settings


@dataclass
class Progress:
    store: JobStore
    sqs: SQSClient
    resources: Resources
    settings: Settings

    def statuses(self, job_id: str | None = None) -> list[JobStatus]:
        """One job's status (by id) or every job's; reads only."""
        return statuses(self.store, self.sqs, self.resources, job_id)

    def page(self, limit: int, after: str | None = None) -> JobsPage:
        """A page of jobs' statuses for the status API (see ``status_page``); reads only."""
        return status_page(self.store, self.sqs, self.resources, limit, after)

    def depths(self) -> QueueDepths:
        """The work queue's and its dead-letter queue's depths, as a status carries them."""
        return read_depths(self.sqs, self.resources)

    def refresh(
        self, job_id: str | None = None, *, ended_within_s: float | None = None
    ) -> list[JobStatus]:
        """One scheduled progress run over one job (by id) or every job that needs it (see
        ``refresh``)."""
        return refresh(
            self.store,
            self.sqs,
            self.resources,
            job_id=job_id,
            settings=self.settings,
            ended_within_s=ended_within_s,
        )


def build_progress(settings: Settings, aws: Aws, resources: Resources | None = None) -> Progress:
    resources = resources or resolve(aws, settings)
    return Progress(
        store=JobStore(
            aws.dynamodb(), resources.table_name, retention_days=settings.job_retention_days
        ),
        sqs=aws.sqs(),
        resources=resources,
        settings=settings,
    )
