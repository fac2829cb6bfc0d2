"""The randomized schedule test: many seeded schedules of the whole protocol (see driver.py).

Seeds run in chunks so that pytest-xdist spreads them over the cores; each worker deploys the
stack once, and each schedule has queues, buckets and a table of its own. A failing seed names
itself; replay it alone with ``S3MIGRATOR_SCHEDULE_SEEDS=N make schedules`` (or a range ``N-M``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

from s3migrator.aws import Aws, make_aws
from s3migrator.cli.deployment import deploy
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.resources import resolve
from s3migrator.settings import Settings

from .driver import run_schedule

SEEDS_PER_CHUNK = 10
CHUNKS = 10


def chosen_seeds() -> list[list[int]]:
    """The seeds to run, in chunks: ``S3MIGRATOR_SCHEDULE_SEEDS`` (``N`` or ``N-M``) picks some."""
    chosen = os.environ.get("S3MIGRATOR_SCHEDULE_SEEDS")
    if chosen:
        first, _, last = chosen.partition("-")
        seeds = list(range(int(first), int(last or first) + 1))
    else:
        seeds = list(range(CHUNKS * SEEDS_PER_CHUNK))
    return [seeds[i : i + SEEDS_PER_CHUNK] for i in range(0, len(seeds), SEEDS_PER_CHUNK)]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Aws, str]]:
    """One deployed stack (in-process moto) for this worker's schedules."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
            patch.delenv(name, raising=False)
        for name in [n for n in os.environ if n.startswith(("S3MIGRATOR_", "AWS_ENDPOINT_URL_"))]:
            if name != "S3MIGRATOR_SCHEDULE_SEEDS":
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        # In-process moto answers botocore only: a direct copy would go to AWS's real endpoints.
        patch.setenv("S3MIGRATOR_DIRECT_COPIES", "false")
        patch_moto()
        with mock_aws():
            aws = make_aws()
            deploy(aws, "s3migrator")
            yield aws, resolve(aws, Settings(stack_name="s3migrator")).table_name


@pytest.mark.parametrize("seeds", chosen_seeds(), ids=lambda seeds: f"seeds-{seeds[0]}")
def test_every_schedule_keeps_the_invariants_and_ends_the_job(
    stack: tuple[Aws, str], seeds: list[int]
) -> None:
    aws, table_name = stack
    for seed in seeds:
        run_schedule(seed, aws, table_name)
