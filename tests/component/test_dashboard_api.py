"""The dashboard's API through the progress function's handler, with function-URL events: the
page and its files, failures a page at a time, and the POSTs that start, cancel and redrive
jobs, each checked as a client of the jobs queue is, and refused when another site's page
could have made them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_progress_lambda import (
    READS,
    LambdaContext,
    lambda_env,
    listed_job,
    recording_aws,
    url_event,
)

from progress.handler import handler_for, lambda_handler
from progress.refresh import refresh
from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.sqs.queues import ORIGINAL_SENDER

__all__ = ["lambda_env"]
HOST = "abc.lambda-url.us-east-1.on.aws"
GOOD = {"content-type": "application/json", "x-s3migrator-request": "1"}
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def call(event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    answer = lambda_handler(event, LambdaContext())  # type: ignore[arg-type]
    return answer["statusCode"], answer.get("headers") or {}, answer.get("body") or ""


def post(
    path: str, body: Any = None, headers: dict[str, str] | None = None, caller: str | None = None
) -> tuple[int, Any]:
    """A POST as a browser on the page sends it (``GOOD`` headers unless ``headers``)."""
    event = url_event(path)
    event["requestContext"]["http"]["method"] = "POST"
    event["headers"] = {"host": HOST, **(GOOD if headers is None else headers)}
    event["body"] = body if isinstance(body, str) else json.dumps(body or {})
    if caller is not None:
        event["requestContext"]["authorizer"] = {"iam": {"callerId": caller}}
    code, _, text = call(event)
    return code, json.loads(text)


def jobs_queue(sqs: Any, resources: Resources) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=resources.jobs_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    ).get("Messages", [])


def test_the_page_and_its_files_are_served_with_a_policy_that_loads_nothing_else(
    lambda_env: None,
) -> None:
    # WHEN the page and its two files are asked for
    page = call(url_event("/"))
    style = call(url_event("/dashboard.css"))
    script = call(url_event("/dashboard.js"))
    # THEN each comes with its type, and the page may load only its own files
    assert page[0] == 200 and page[1]["Content-Type"].startswith("text/html")
    assert "<title>" in page[2] and 'src="dashboard.js"' in page[2]
    assert style[1]["Content-Type"].startswith("text/css") and style[2]
    assert script[1]["Content-Type"].startswith("text/javascript") and "fetch(" in script[2]
    policy = page[1]["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy


def test_failures_come_a_page_at_a_time_with_their_reasons(
    store: JobStore, lambda_env: None
) -> None:
    # GIVEN a job with five failed objects
    listed_job(store, "failing", batches=2, counted=1, failed=3)
    listed_job(store, "other", batches=1, counted=1, failed=2)
    # WHEN its failures are read two at a time
    first = call(url_event("/jobs/failing/failures", limit="2"))
    body = json.loads(first[2])
    second = json.loads(call(url_event("/jobs/failing/failures", limit="2", next="2"))[2])
    # THEN each page has its objects with their reasons, and the last says there is no more
    assert first[0] == 200
    assert [(f["code"], f["message"]) for f in body["failures"]] == [("AccessDenied", "denied")] * 2
    assert body["next"] == "2"
    assert len(second["failures"]) == 1 and second["next"] is None
    keys = {f["key"] for f in body["failures"] + second["failures"]}
    assert len(keys) == 3 and all(key.startswith("failing:0/") for key in keys)
    # AND an unknown job, or a bad limit, is answered plainly
    assert call(url_event("/jobs/nope/failures"))[0] == 404
    assert call(url_event("/jobs/failing/failures", limit="x"))[0] == 400


def test_a_job_started_from_the_page_is_sent_to_the_jobs_queue_for_its_caller(
    sqs: Any, resources: Resources, lambda_env: None
) -> None:
    # WHEN a caller behind the function URL starts a copy
    job = {
        "job_id": "from-page",
        "mode": "copy",
        "source": {"bucket": "src"},
        "destination": {"bucket": "dst"},
    }
    code, body = post("/jobs", job, caller="AIDACALLER")
    # THEN it is on the jobs queue as sent, with the caller as its original sender
    assert (code, body) == (201, {"job_id": "from-page"})
    (message,) = jobs_queue(sqs, resources)
    assert json.loads(message["Body"]) == job
    assert message["MessageAttributes"][ORIGINAL_SENDER]["StringValue"] == "AIDACALLER"


@pytest.mark.parametrize(
    ("headers", "body", "code", "says"),
    [
        ({"content-type": "application/json"}, {}, 403, "a POST must carry the header"),
        (
            {"x-s3migrator-request": "1", "content-type": "text/plain"},
            {},
            415,
            "a POST's body must be JSON",
        ),
        ({**GOOD, "origin": "https://elsewhere.example"}, {}, 403, "requests from https://"),
        (GOOD, "{not json", 400, "the body is not JSON"),
        (GOOD, "[" * 100_000, 400, "the body is not JSON: nested too deep"),
        (GOOD, {"source": {"bucket": "src"}}, 400, "invalid job: mode: Field required"),
        (GOOD, {"source": {"bucket": "s"}, "destination": {"bucket": "d"}}, 400, "invalid job"),
    ],
)
def test_a_post_another_site_could_make_or_a_bad_job_is_refused_and_nothing_is_sent(
    sqs: Any,
    resources: Resources,
    lambda_env: None,
    headers: dict[str, str],
    body: Any,
    code: int,
    says: str,
) -> None:
    # WHEN such a POST arrives THEN it is refused with the reason, and nothing is sent
    answer = post("/jobs", body, headers)
    assert answer[0] == code and answer[1]["message"].startswith(says), answer
    assert jobs_queue(sqs, resources) == []


def test_only_a_running_migration_can_be_cancelled_and_only_a_job_with_failures_redriven(
    store: JobStore, sqs: Any, resources: Resources, lambda_env: None
) -> None:
    # GIVEN a running copy job
    listed_job(store, "copying", batches=2, counted=1)
    # WHEN it is cancelled or redriven THEN both are refused, saying why, and nothing is sent
    code, body = post("/jobs/copying/cancel")
    assert (code, body["message"]) == (
        409,
        "job copying is no running migration: only a running migration is cancelled",
    )
    assert post("/jobs/nope/cancel")[0] == 404
    assert post("/jobs/" + "x" * 300 + "/cancel")[0] == 404  # no job id of ours
    code, body = post("/jobs/copying/redrive")
    assert code == 409 and body["message"].startswith("job copying is running")
    assert post("/jobs/nope/redrive")[0] == 404
    assert jobs_queue(sqs, resources) == []


def test_a_redrive_asked_from_the_page_is_done_by_the_coordinator(
    store: JobStore, sqs: Any, resources: Resources, lambda_env: None, make_coordinator: Any
) -> None:
    # GIVEN a job that completed with failures
    listed_job(store, "failed-some", batches=1, counted=1, failed=2)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    done = store.get_job("failed-some")
    assert done is not None and done.state is JobState.COMPLETED_WITH_FAILURES
    # WHEN a job submitter asks for its redrive on the page, and a coordinator takes the note
    code, body = post("/jobs/failed-some/redrive", caller=LOCAL_SUBMITTER)
    make_coordinator().serve(once=True)
    # THEN the job is redriving its two failed objects
    assert (code, body) == (202, {"job_id": "failed-some", "objects": 2})
    record = store.get_job("failed-some")
    assert record is not None and (record.state, record.phase) == (
        JobState.RUNNING,
        Phase.REDRIVING,
    )


def test_a_redrive_relayed_for_a_caller_who_is_no_submitter_is_refused(
    store: JobStore, sqs: Any, resources: Resources, lambda_env: None, make_coordinator: Any
) -> None:
    # GIVEN a job that completed with failures
    listed_job(store, "failed-some", batches=1, counted=1, failed=2)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # WHEN a caller who may not start jobs asks for its redrive
    assert post("/jobs/failed-some/redrive", caller="AIDASTRANGER")[0] == 202
    make_coordinator().serve(once=True)
    # THEN the coordinator refuses it: the job is as it was
    record = store.get_job("failed-some")
    assert record is not None and record.state is JobState.COMPLETED_WITH_FAILURES


def test_the_page_and_the_failures_only_read(store: JobStore, lambda_env: None) -> None:
    # GIVEN a job with failures, and a handler whose clients note every call they make
    listed_job(store, "failing", batches=1, counted=1, failed=1)
    calls: list[str] = []
    handler = handler_for(recording_aws(calls))
    # WHEN the page, its files and the failures are read
    for path in ("/", "/dashboard.js", "/jobs/failing/failures"):
        assert handler(url_event(path), LambdaContext())["statusCode"] == 200  # type: ignore[arg-type]
    # THEN every call was a read
    assert "dynamodb.TransactGetItems" in calls
    assert [call for call in calls if not call.split(".")[1].startswith(READS)] == []


def test_a_job_behind_the_function_url_with_no_signed_caller_is_refused(
    sqs: Any, resources: Resources, lambda_env: None
) -> None:
    # WHEN a valid job arrives at the function with no IAM caller in its request context
    job = {"mode": "copy", "source": {"bucket": "src"}, "destination": {"bucket": "dst"}}
    code, body = post("/jobs", job)
    # THEN it is refused: the function relays only for a caller it can name
    assert (code, body["message"]) == (
        403,
        "the request is not signed: open the dashboard through its URL",
    )
    assert jobs_queue(sqs, resources) == []
