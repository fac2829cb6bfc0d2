"""Component fixtures: moto's in-process AWS with the real stack template deployed.

Every test gets a fresh mock: fake credentials, the template deployed with ``deploy``, and
``Resources`` resolved from the stack outputs exactly as the processes resolve them. Processes
are built by the product's own factories (``coordinator.process``, ``copier.process``); the job
store reads a clock the test can move.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from copier_drain import drain
from moto import mock_aws

from coordinator.jobs import JobRunner
from coordinator.process import build_coordinator, build_runner
from coordinator.service import Coordinator
from copier.direct_copies import DirectCopies
from copier.worker import Worker
from s3migrator.aws import Aws, make_aws
from s3migrator.cli.deployment import deploy
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve
from s3migrator.settings import MiB, Settings

STACK = "s3migrator"


@dataclass
class FakeClock:
    """Real time plus an offset the test moves forward: leases expire without waiting."""

    offset_s: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds


@pytest.fixture(autouse=True, scope="session")
def _moto_like_aws() -> None:
    """Copiers run batches on threads; moto's transaction rollback is not thread-safe."""
    patch_moto()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith(("S3MIGRATOR_", "AWS_ENDPOINT_URL_"))]:
        monkeypatch.delenv(name)
    # In-process moto answers botocore only: a direct copy would go to AWS's real endpoints.
    monkeypatch.setenv("S3MIGRATOR_DIRECT_COPIES", "false")
    with mock_aws():
        yield make_aws()


@pytest.fixture
def resources(aws: Aws) -> Resources:
    deploy(aws, STACK)
    return resolve(aws, Settings(stack_name=STACK))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(aws: Aws, resources: Resources, clock: FakeClock) -> JobStore:
    return JobStore(aws.dynamodb(), resources.table_name, clock=clock)


@pytest.fixture
def s3(aws: Aws) -> Any:
    return aws.s3()


@pytest.fixture
def sqs(aws: Aws) -> Any:
    return aws.sqs()


@pytest.fixture
def make_runner(aws: Aws, resources: Resources, store: JobStore) -> Callable[..., JobRunner]:
    """A job runner built by the coordinator's own factory, with these settings."""

    def make(**settings: Any) -> JobRunner:
        chosen = Settings(stack_name=STACK, **{"job_submitters": LOCAL_SUBMITTER, **settings})
        return build_runner(chosen, aws, resources, store=store)

    return make


@pytest.fixture
def make_coordinator(aws: Aws, resources: Resources, store: JobStore) -> Callable[..., Coordinator]:
    """The jobs queue loop built by the coordinator's own factory; short polls for tests."""

    def make(**settings: Any) -> Coordinator:
        chosen = Settings(
            stack_name=STACK,
            **{
                "jobs_visibility_s": 30,
                "wait_time_s": 0,
                "job_submitters": LOCAL_SUBMITTER,
                **settings,
            },
        )
        return build_coordinator(chosen, aws, resources, store=store)

    return make


@pytest.fixture
def run_copier(aws: Aws, resources: Resources, store: JobStore) -> Callable[..., Worker]:
    """Drain the work queue with a worker built by the copier's own factory.

    ``s3`` may be given so a test can watch the copier's own client's calls.
    """

    def run(
        s3: Any = None,
        *,
        threshold: int = 8 * MiB,
        part_size: int = 5 * MiB,
        idle_exit_s: float = 0.25,
    ) -> Worker:
        return drain(
            aws,
            resources,
            store,
            s3,
            threshold=threshold,
            part_size=part_size,
            messages_in_flight=4,
            idle_exit_s=idle_exit_s,
        )

    return run


@pytest.fixture
def copy_all(aws: Aws, resources: Resources, store: JobStore) -> Callable[[], Worker]:
    """Drain the work queue with a real copier (built by the copier's factory)."""
    return lambda: drain(aws, resources, store)


# The direct path's tests (test_direct_copies*.py).
@pytest.fixture
def waits() -> list[float]:
    """The waits of the direct path before it hands a request to botocore, on a fake clock."""
    return []


@pytest.fixture
def direct(waits: list[float]) -> DirectCopies:
    return DirectCopies(sleep=waits.append, random=lambda: 0.5)
