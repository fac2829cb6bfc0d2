"""The status API and dashboard, behind the progress function's URL (and `s3migrator dashboard`).

GETs only read: ``GET /`` (the page, with ``/dashboard.css`` and ``/dashboard.js``),
``GET /jobs`` (a page of statuses: ``?limit=N``, default 50, at most 200, ``?next=TOKEN``),
``GET /jobs/{id}``, ``GET /jobs/{id}/failures`` (a page of failed objects, ``?limit``, ``?next``).

POSTs ask for work, the way any client of the jobs queue does: ``POST /jobs`` (a job message,
checked with the job model and sent to the jobs queue), ``POST /jobs/{id}/cancel`` (a
migration), ``POST /jobs/{id}/redrive`` (a job that completed with failures: its dead letters
swept, then the coordinator asked). Behind the function URL (AWS_IAM auth) the function sends
for the caller: the message carries the caller's principal as its original sender, and the
coordinator checks both. A POST must say ``Content-Type: application/json`` and
``X-S3migrator-Request: 1``, and an ``Origin`` must be the page's own: a page of another site
cannot send either without the browser asking first, and no CORS answer ever allows it.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    NotFoundError,
    ServiceError,
)
from pydantic import ValidationError

from progress.deadletters import sweep_dead_letters
from progress.process import Progress, build_progress
from progress.status import page_size
from s3migrator.aws import Aws
from s3migrator.errors import UsageError
from s3migrator.models import JobMessage, JobRecord, JobState, Mode, explain
from s3migrator.names import JOB_ID_PATTERN
from s3migrator.notes import CancelMessage, RedriveMessage
from s3migrator.settings import Settings
from s3migrator.sqs.queues import send_job, send_request

app = LambdaFunctionUrlResolver()
REQUEST_HEADER = "x-s3migrator-request"
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
}
# The page loads nothing but its own files and asks nothing but its own API.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEFAULT_FAILURES = 50
MAX_FAILURES = 500


def _progress() -> Progress:
    """The progress function for the request: the one ``s3migrator dashboard`` gives, or one
    over the invocation's clients (``app.context["aws"]``)."""
    given: Progress | None = app.context.get("progress")
    if given is not None:
        return given
    aws: Aws = app.context["aws"]
    return build_progress(Settings(), aws)


def _asset(path: str) -> Response[str]:
    name, content_type = _ASSETS[path]
    body = files("progress").joinpath("dashboard", name).read_text(encoding="utf-8")
    return Response(200, content_type, body, headers=_PAGE_HEADERS)


@app.get("/")
def page() -> Response[str]:
    return _asset("/")


@app.get("/dashboard.css")
def stylesheet() -> Response[str]:
    return _asset("/dashboard.css")


@app.get("/dashboard.js")
def script() -> Response[str]:
    return _asset("/dashboard.js")


@app.get("/favicon.ico")
def no_icon() -> Response[str]:
    return Response(204, "text/plain", "")


@app.get("/jobs")
def list_jobs() -> dict[str, Any]:
    """A page of jobs' statuses, oldest first: a pure read."""
    query = app.current_event.query_string_parameters or {}
    try:
        page = _progress().page(page_size(query.get("limit")), query.get("next"))
    except UsageError as exc:
        raise BadRequestError(str(exc)) from exc
    return page.model_dump(mode="json")


@app.get("/jobs/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    statuses = _progress().statuses(job_id)
    if not statuses:
        raise NotFoundError(f"no job {job_id!r}")
    return statuses[0].model_dump(mode="json")


@app.get("/jobs/<job_id>/failures")
def list_failures(job_id: str) -> dict[str, Any]:
    """A page of the job's failed objects, with why each failed; ``next`` is where the next
    page starts."""
    query = app.current_event.query_string_parameters or {}
    limit = _whole(query.get("limit"), DEFAULT_FAILURES, MAX_FAILURES, "limit")
    start = _whole(query.get("next"), 0, 2**31, "next")
    progress = _progress()
    _record(progress, job_id)
    failures = progress.store.batches.failures(job_id)
    shown = failures[start : start + limit]
    after = start + limit
    return {
        "failures": [failure.model_dump(mode="json") for failure in shown],
        "next": str(after) if after < len(failures) else None,
    }


@app.post("/jobs")
def start_job() -> Response[str]:
    """Check the job message with the job model and send it to the jobs queue."""
    _guard()
    try:
        job = JobMessage.model_validate(_body())
    except ValidationError as exc:
        raise BadRequestError(f"invalid job: {explain(exc)}") from exc
    progress = _progress()
    sent = send_job(progress.sqs, progress.resources.jobs_queue_url, job, _caller())
    return _json(201, {"job_id": sent.job_id})


@app.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response[str]:
    """Ask the coordinator to cancel a running migration (it checks who asks, as for a job)."""
    _guard()
    progress = _progress()
    record = _record(progress, job_id)
    if record.mode is not Mode.MIGRATE or record.state is not JobState.RUNNING:
        raise ServiceError(
            409, f"job {job_id} is no running migration: only a running migration is cancelled"
        )
    request = CancelMessage(cancel=job_id)
    send_request(progress.sqs, progress.resources.jobs_queue_url, request, _caller())
    return _json(202, {"job_id": job_id, "cancel_sent": True})


@app.post("/jobs/<job_id>/redrive")
def redrive(job_id: str) -> Response[str]:
    """Ask the coordinator to redrive a job that completed with failures (it checks who asks,
    as for a job), its dead letters swept first."""
    _guard()
    progress = _progress()
    record = _record(progress, job_id)
    if record.state is not JobState.COMPLETED_WITH_FAILURES:
        raise ServiceError(
            409,
            f"job {job_id} is {record.state.value}; only a job that completed with failures"
            " can be redriven",
        )
    resources = progress.resources
    sweep_dead_letters(
        progress.store, progress.sqs, resources.work_dlq_url, resources.work_queue_url
    )
    request = RedriveMessage(redrive=job_id)
    send_request(progress.sqs, resources.jobs_queue_url, request, _caller())
    return _json(202, {"job_id": job_id, "objects": record.counters.objects_failed})


def _guard() -> None:
    """Refuse a POST a page of another site could have made (see the module's docstring)."""
    headers = {k.lower(): v for k, v in (app.current_event.headers or {}).items()}
    if headers.get(REQUEST_HEADER) != "1":
        raise ServiceError(403, f"a POST must carry the header {REQUEST_HEADER}: 1")
    if not headers.get("content-type", "").startswith("application/json"):
        raise ServiceError(415, "a POST's body must be JSON (Content-Type: application/json)")
    origin = headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != headers.get("host"):
        raise ServiceError(403, f"requests from {origin} are not accepted")


def _record(progress: Progress, job_id: str) -> JobRecord:
    record = progress.store.get_job(job_id) if re.fullmatch(JOB_ID_PATTERN, job_id) else None
    if record is None:
        raise NotFoundError(f"no job {job_id!r}")
    return record


def _body() -> Any:
    try:
        return json.loads(app.current_event.decoded_body or "")
    except RecursionError as exc:  # nested past the parser's depth: no job is
        raise BadRequestError("the body is not JSON: nested too deep") from exc
    except ValueError as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from exc


def _caller() -> str | None:
    """The caller's principal behind the function URL (AWS_IAM auth), for whom the function
    relays; None when the request is sent with the caller's own credentials (``s3migrator
    dashboard``). A relayed request names its caller, or is refused."""
    context = app.current_event.raw_event.get("requestContext", {})
    caller = context.get("authorizer", {}).get("iam", {}).get("callerId")
    if caller:
        return str(caller)
    if app.context.get("progress") is None:
        raise ServiceError(403, "the request is not signed: open the dashboard through its URL")
    return None


def _whole(text: str | None, default: int, most: int, name: str) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and int(text) <= most):
        raise BadRequestError(f"{name}: a whole number up to {most}, not {text!r}")
    return int(text)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status, "application/json", json.dumps(body))
