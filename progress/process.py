"""The progress function built from settings: what the Lambda, the CLI and the tests call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from progress.refresh import refresh
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from s3migrator.aws import Aws
    from s3migrator.models import JobStatus
    from s3migrator.settings import Settings


@dataclass
class Progress:
    store: JobStore
    sqs: SQSClient
    s3: S3Client
    resources: Resources
    settings: Settings

    def refresh(self, job_id: str | None = None) -> list[JobStatus]:
        """One progress run over one job (by id) or every job."""
        return refresh(
            self.store, self.sqs, self.resources, job_id=job_id, s3=self.s3, settings=self.settings
        )


def build_progress(settings: Settings, aws: Aws, resources: Resources | None = None) -> Progress:
    resources = resources or resolve(aws, settings)
    return Progress(
        store=JobStore(aws.dynamodb(), resources.table_name),
        sqs=aws.sqs(),
        s3=aws.s3(),
        resources=resources,
        settings=settings,
    )
