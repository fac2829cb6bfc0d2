"""The progress Lambda: scheduled refreshes with scaling metrics, and the status API (its URL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import botocore.session
import pytest
from moto_helpers import counted_batch

from progress.handler import handler_for, lambda_handler
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import (
    CopySpec,
    JobRecord,
    JobState,
    ListingCheckpoint,
    Location,
    Mode,
    Phase,
)
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


def listed_job(
    store: JobStore,
    job_id: str,
    *,
    batches: int,
    counted: int,
    failed: int = 0,
    created_at: float = 1.0,
) -> None:
    spec = CopySpec(
        job_id=job_id, source=Location(bucket="src"), destination=Location(bucket="dst")
    )
    store.create_job(
        JobRecord(
            job_id=job_id, mode=Mode.COPY, spec=spec, created_at=created_at, updated_at=created_at
        )
    )
    store.acquire_lease(job_id, "me", 60)
    store.set_phase(job_id, "me", 0, Phase.STARTED, Phase.COPYING)
    checkpoint = ListingCheckpoint(
        start_after="k", next_seq=batches, objects=3 * batches, bytes=30 * batches, complete=True
    )
    store.save_checkpoint(job_id, "me", checkpoint, 60, seq=0)
    for seq in range(counted):
        copied = 3 - failed if seq == 0 else 3
        assert counted_batch(
            store, job_id, f"{job_id}:{seq}", copied=copied, failed=3 - copied, bytes_copied=30
        )


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


def url_event(path: str, **query: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": urlencode(query),
        **({"queryStringParameters": query} if query else {}),
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
    assert json.loads(every["body"])["next"] is None
    assert [job["job_id"] for job in json.loads(every["body"])["jobs"]] == ["api"]
    assert missing["statusCode"] == 404


def get(path: str, handler: Callable[..., dict[str, Any]] = lambda_handler, **query: str) -> Any:
    """The status API's answer to a GET: (status code, parsed body)."""
    answer = handler(url_event(path, **query), LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_status_api_pages_through_every_job_oldest_first(store: JobStore, lambda_env: None) -> None:
    # GIVEN five jobs, created one after another
    for n in range(5):
        listed_job(store, f"job-{n}", batches=1, counted=0, created_at=100.0 + n)
    # WHEN a client asks for pages of two, passing each page's `next` on to the next request
    pages: list[list[str]] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        code, body = get("/jobs", **query)
        assert code == 200, body
        pages.append([job["job_id"] for job in body["jobs"]])
        if body["next"] is None:
            break
        query["next"] = body["next"]
    # THEN it has seen every job once, oldest first, and the last page says it is the last
    assert pages == [["job-0", "job-1"], ["job-2", "job-3"], ["job-4"]]
    # AND a page ending exactly at the last job says so too, with no empty page after it
    code, body = get("/jobs", limit="5")
    assert (code, len(body["jobs"]), body["next"]) == (200, 5, None)


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit: a whole number from 1 to 200, not '0'"),
        ({"limit": "201"}, "limit: a whole number from 1 to 200, not '201'"),
        ({"limit": "ten"}, "limit: a whole number from 1 to 200, not 'ten'"),
        ({"limit": "-1"}, "limit: a whole number from 1 to 200, not '-1'"),
        ({"next": "not-a-token"}, "next: not a page token"),
        ({"next": ""}, "next: not a page token"),
        # well-formed base64 JSON, but not a place in the index: ["1", "../x"]
        ({"next": "WyIxIiwiLi4veCJd"}, "next: not a page token"),
    ],
)
def test_status_api_refuses_a_bad_limit_or_token_with_400(
    store: JobStore, lambda_env: None, query: dict[str, str], message: str
) -> None:
    # GIVEN a job
    listed_job(store, "one", batches=1, counted=0)
    # WHEN the list is asked for with a limit out of range or a token that is none of ours
    code, body = get("/jobs", **query)
    # THEN the answer is 400 and says what is wrong
    assert code == 400
    assert body["message"].startswith(message), body


READS = ("Get", "BatchGet", "TransactGet", "Describe", "List", "Head", "Query", "Scan")


def recording_aws(calls: list[str]) -> Callable[[], Aws]:
    """The handler's clients, built as the product builds them, on a botocore session that
    notes every operation before it is sent."""

    def note(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}.{model.name}")

    def new_aws() -> Aws:
        session = botocore.session.get_session()
        session.register("before-call", note)
        return Aws(session=boto3.Session(botocore_session=session))

    return new_aws


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_status_api_only_reads(store: JobStore, lambda_env: None) -> None:
    # GIVEN a job whose work is all done and counted (a progress run would finish it), with a
    # failure, so that reading its status reads its batches too
    listed_job(store, "done", batches=1, counted=1, failed=1)
    calls: list[str] = []
    handler = handler_for(recording_aws(calls))
    # WHEN the status API is asked for the list and for the job
    assert get("/jobs", handler)[0] == 200
    code, status = get("/jobs/done", handler)
    # THEN every call it made was a read, of the table and of the queues
    assert code == 200 and status["state"] == "running"
    assert {"dynamodb.Query", "dynamodb.TransactGetItems", "sqs.GetQueueAttributes"} <= set(calls)
    assert [call for call in calls if not call.split(".")[1].startswith(READS)] == []
    # AND the job is as it was: looking finished nothing
    record = store.get_job("done")
    assert record is not None and record.state.value == "running"
    # AND the same recorder hears writes: the scheduled run finishes the job
    calls.clear()
    handler({"source": "aws.events"}, LambdaContext())
    assert "dynamodb.UpdateItem" in calls


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_scheduled_run_counts_a_job_its_coordinator_failed_within_the_minute_for_the_alarm(
    store: JobStore, clock: Any, lambda_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a job a coordinator failed two minutes ago, and one it failed just now
    clock.advance(-120)
    listed_job(store, "old", batches=2, counted=1)
    store.finish("old", JobState.FAILED, 6, error="gone", epoch=0)
    clock.advance(120)
    listed_job(store, "new", batches=2, counted=1)
    store.finish("new", JobState.FAILED, 6, error="gone", epoch=0)
    # WHEN the schedule runs the handler
    result = lambda_handler({"source": "aws.events"}, LambdaContext())  # type: ignore[arg-type]
    # THEN the job that ended within the minute is read and counted for the failed-jobs alarm,
    # and the one that ended before is not read again
    assert [job["job_id"] for job in result["jobs"]] == ["new"]
    [emf] = emf_records(capsys.readouterr().out)
    assert emf["JobsEndedWithFailures"] == [1.0]
    assert emf["RunningJobs"] == [0.0]
