"""The progress Lambda handler: a thin shell over progress.report.refresh, with EMF metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from progress.handler import lambda_handler
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobRecord, ListingCheckpoint, Location, Mode, Phase
from s3migrator.resources import Resources


@dataclass
class LambdaContext:
    """The attributes of the context object the Lambda runtime passes in."""

    function_name: str = "s3migrator-progress"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:s3migrator-progress"
    aws_request_id: str = "request-1"


def test_scheduled_run_finishes_a_job_whose_batches_are_all_counted(
    store: JobStore,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a job whose listing is complete and whose only batch has been counted
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "s3migrator")
    for key, value in resources.as_env().items():
        monkeypatch.setenv(key, value)
    spec = CopySpec(job_id="lam", source=Location(bucket="src"), destination=Location(bucket="dst"))
    store.create_job(
        JobRecord(job_id="lam", mode=Mode.COPY, spec=spec, created_at=1.0, updated_at=1.0)
    )
    store.set_phase("lam", Phase.COPYING, 6)
    store.acquire_lease("lam", "me", 60)
    store.save_checkpoint(
        "lam",
        "me",
        ListingCheckpoint(start_after="k", next_seq=1, objects=3, bytes=30, complete=True),
        60,
    )
    assert store.count_batch("lam", "lam:000000000", copied=3, failed=0, bytes_copied=30)

    # WHEN the scheduled event invokes the handler
    result = lambda_handler({"source": "aws.events"}, LambdaContext())  # type: ignore[arg-type]

    # THEN the job is finished at 100% and metrics go out in embedded metric format
    [job] = result["jobs"]
    assert job["state"] == "succeeded"
    assert job["percent"] == 100
    record = store.get_job("lam")
    assert record is not None and record.state.value == "succeeded"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no embedded-metric-format record was printed"
    assert emf[-1]["RunningJobs"] == [0.0]
    assert emf[-1]["WorkQueueVisible"] == [0.0]
