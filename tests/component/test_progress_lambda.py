"""The progress Lambda: scheduled refreshes with scaling metrics, and the status API (its URL)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from moto_helpers import counted_batch

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


@pytest.fixture
def lambda_env(resources: Resources, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "s3migrator/test")
    for key, value in resources.as_env().items():
        monkeypatch.setenv(key, value)


def listed_job(store: JobStore, job_id: str, *, batches: int, counted: int) -> None:
    spec = CopySpec(
        job_id=job_id, source=Location(bucket="src"), destination=Location(bucket="dst")
    )
    store.create_job(
        JobRecord(job_id=job_id, mode=Mode.COPY, spec=spec, created_at=1.0, updated_at=1.0)
    )
    store.acquire_lease(job_id, "me", 60)
    store.set_phase(job_id, "me", 0, Phase.STARTED, Phase.COPYING)
    checkpoint = ListingCheckpoint(
        start_after="k", next_seq=batches, objects=3 * batches, bytes=30 * batches, complete=True
    )
    store.save_checkpoint(job_id, "me", checkpoint, 60, seq=0)
    for seq in range(counted):
        assert counted_batch(store, job_id, f"{job_id}:{seq}", copied=3, failed=0, bytes_copied=30)


def emf_records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_scheduled_run_finishes_a_done_job_and_an_idle_stack_publishes_no_metrics(
    store: JobStore, lambda_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job whose listing is complete and whose only batch has been counted
    listed_job(store, "lam", batches=1, counted=1)
    # WHEN the scheduled event invokes the handler
    result = lambda_handler({"source": "aws.events"}, LambdaContext())  # type: ignore[arg-type]
    # THEN the job is finished at 100%, and with no work left nothing is published
    [job] = result["jobs"]
    assert (job["state"], job["percent"]) == ("succeeded", 100)
    record = store.get_job("lam")
    assert record is not None and record.state.value == "succeeded"
    assert emf_records(capsys.readouterr().out) == []


def test_scheduled_run_with_work_publishes_backlog_per_copier_and_the_start_signal(
    store: JobStore,
    sqs: Any,
    resources: Resources,
    lambda_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a running job with 3 batches waiting in the work queue and no copier running
    listed_job(store, "busy", batches=4, counted=1)
    for i in range(3):
        sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=f"batch {i}")
    # WHEN the schedule runs the handler
    result = lambda_handler({"source": "aws.events"}, LambdaContext())  # type: ignore[arg-type]
    # THEN the job is still running, and the scaling metrics say: 3 batches per copier, start one
    [job] = result["jobs"]
    assert job["state"] == "running" and job["percent"] < 100
    [emf] = emf_records(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "s3migrator/test"
    assert emf["BacklogPerCopier"] == [3.0]
    assert emf["CopiersNeededFromZero"] == [1.0]
    assert emf["RunningCopiers"] == [0.0]
    assert emf["RunningJobs"] == [1.0]
    assert emf["ObjectsCopied"] == [3.0]


def url_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "r",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_status_api_answers_one_job_all_jobs_and_unknown_jobs(
    store: JobStore, lambda_env: None
) -> None:
    # GIVEN one running job
    listed_job(store, "api", batches=2, counted=1)
    # WHEN the function URL is asked for it, for all jobs, and for a job that does not exist
    one = lambda_handler(url_event("/jobs/api"), LambdaContext())  # type: ignore[arg-type]
    every = lambda_handler(url_event("/jobs"), LambdaContext())  # type: ignore[arg-type]
    missing = lambda_handler(url_event("/jobs/nope"), LambdaContext())  # type: ignore[arg-type]
    # THEN it answers with the same status JSON as `s3migrator status --json`, or 404
    assert one["statusCode"] == 200
    status = json.loads(one["body"])
    assert (status["job_id"], status["objects_copied"], status["objects_total"]) == ("api", 3, 6)
    assert [job["job_id"] for job in json.loads(every["body"])] == ["api"]
    assert missing["statusCode"] == 404
