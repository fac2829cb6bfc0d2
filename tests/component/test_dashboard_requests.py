"""What the dashboard asks for a user goes through the coordinator's sender rules: a cancel
or a redrive from a caller who may not start jobs changes nothing, a job is recorded as its
real sender's, and the local server answers a malformed request plainly."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from accounts import BOTH_ACCOUNTS
from test_dashboard_api import post
from test_migration import migration, source, submit
from test_progress_lambda import lambda_env

from progress.process import build_progress
from s3migrator.aws import Aws
from s3migrator.cli.dashboard import DashboardServer
from s3migrator.cli.local.server import LOCAL_SUBMITTER
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState, Phase
from s3migrator.resources import Resources
from s3migrator.settings import Settings

__all__ = ["lambda_env", "source"]


def running_migration(sqs: Any, resources: Resources, store: JobStore, coordinator: Any) -> None:
    submit(sqs, resources, migration(confirm_delete_source=True))
    coordinator.serve(once=True)  # started; its first copy step runs
    record = store.get_job("mig-1")
    assert record is not None and record.phase is Phase.COPYING_TO_TEMPORARY


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize(
    ("caller", "cancelled"), [(LOCAL_SUBMITTER, True), ("AIDASTRANGER", False)]
)
def test_a_cancel_asked_on_the_page_is_done_only_for_a_job_submitter(
    sqs: Any,
    store: JobStore,
    resources: Resources,
    lambda_env: None,
    make_coordinator: Any,
    source: Any,
    caller: str,
    cancelled: bool,
) -> None:
    # GIVEN a running migration
    coordinator = make_coordinator(allowed_accounts=BOTH_ACCOUNTS, migration_poll_s=60)
    running_migration(sqs, resources, store, coordinator)
    # WHEN a caller asks on the page for its cancel, and the coordinator takes the request
    code, body = post("/jobs/mig-1/cancel", caller=caller)
    coordinator.serve(once=True)
    # THEN it is sent, and carried out only for a job submitter
    assert (code, body) == (202, {"job_id": "mig-1", "cancel_sent": True})
    record = store.get_job("mig-1")
    assert record is not None
    if cancelled:
        assert record.state is JobState.FAILED
        assert (record.error or "").startswith("cancelled: the source is untouched")
    else:
        assert record.state is JobState.RUNNING and not record.cancel_requested


@pytest.fixture
def dashboard(aws: Aws, resources: Resources) -> Iterator[DashboardServer]:
    progress = build_progress(Settings(stack_name="s3migrator"), aws, resources)
    server = DashboardServer(progress)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_the_local_server_answers_a_body_without_a_usable_length_with_400(
    dashboard: DashboardServer, length: str
) -> None:
    # WHEN a POST declares a length that is no whole number
    host, port = dashboard.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
    connection.putrequest("POST", "/jobs", skip_accept_encoding=True)
    connection.putheader("Content-Length", length)
    connection.endheaders()
    answer = connection.getresponse()
    # THEN it is answered at once, plainly
    assert (answer.status, answer.read()) == (400, b"a body needs its Content-Length")
