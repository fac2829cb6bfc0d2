"""The AWS session factory: one place that builds sessions and clients.

Standard configuration applies unchanged: profiles, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` are resolved by botocore itself, so the same code runs on AWS and
on a local endpoint. Retries use botocore's retry modes rather than hand-written loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from s3migrator.settings import Settings

DEFAULT_REGION = "us-east-1"
_UTC = tzutc()


def fast_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with S3's ISO-8601 UTC form (``2024-05-01T12:00:00.000Z``,
    every listed key's LastModified) read by the standard library instead of dateutil's general
    parser, which cost more CPU than the rest of a listing page's parsing (`make bench`). The
    result is the same datetime, in the same ``tzutc``; any other form goes to botocore's."""
    if isinstance(value, str) and len(value) >= 20 and value[10] == "T" and value[-1] == "Z":
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=_UTC)
        except ValueError:
            pass
    parsed: datetime = parse_timestamp(value)
    return parsed


def use_fast_timestamps(session: boto3.Session) -> None:
    """Every client the session builds from now on parses timestamps with ``fast_timestamp``."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=fast_timestamp)


@dataclass
class Aws:
    """Builds clients from one boto3 session; pass it in rather than creating clients ad hoc."""

    session: boto3.Session = field(default_factory=boto3.Session)
    retry_mode: str = "standard"
    max_attempts: int = 5
    max_pool_connections: int = 10
    # Long-running tasks send requests their code builds, millions of them: botocore's checks
    # of each request's parameters and its optional checksums (a copy carries no body) are CPU
    # spent per object for nothing (`make bench` measures it). Checksums a request or response
    # must carry are still made and checked.
    lean: bool = False

    def __post_init__(self) -> None:
        use_fast_timestamps(self.session)

    @property
    def region(self) -> str:
        return self.session.region_name or DEFAULT_REGION

    def config(self, **overrides: Any) -> Config:
        settings: dict[str, Any] = {
            "retries": {"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            "max_pool_connections": self.max_pool_connections,
        }
        if self.lean:
            settings.update(
                parameter_validation=False,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        return Config(**{**settings, **overrides})

    def s3(self, region: str | None = None) -> S3Client:
        return self.session.client("s3", region_name=region or self.region, config=self.config())

    def sqs(self) -> SQSClient:
        return self.session.client("sqs", region_name=self.region, config=self.config())

    def dynamodb(self) -> DynamoDBClient:
        return self.session.client("dynamodb", region_name=self.region, config=self.config())

    def cloudformation(self) -> CloudFormationClient:
        return self.session.client("cloudformation", region_name=self.region, config=self.config())


def make_aws(
    profile: str | None = None,
    region: str | None = None,
    *,
    retry_mode: str = "standard",
    max_attempts: int = 5,
    max_pool_connections: int = 10,
    lean: bool = False,
) -> Aws:
    session = boto3.Session(profile_name=profile, region_name=region)
    return Aws(session, retry_mode, max_attempts, max_pool_connections, lean)


def task_aws(settings: Settings, profile: str | None = None, max_pool_connections: int = 10) -> Aws:
    """The factory for a long-running task: retries as its settings say, lean clients."""
    return make_aws(
        profile,
        retry_mode=settings.retry_mode,
        max_attempts=settings.max_attempts,
        max_pool_connections=max_pool_connections,
        lean=True,
    )
