"""The dashboard in a real browser: `s3migrator dashboard` against the embedded stack, driven
by Playwright through Debian's Chromium (/usr/bin/chromium; no `playwright install`).

The stack holds three jobs before the page opens: one that succeeded, one that completed with
a failed object (an archived object copied without a restore: S3 refuses to read it), and one
that is running (it restores an archived object: the copier asked S3 for the restore and the
object waits, in a batch sent with SQS's longest delay, so the job stays running for minutes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from s3migrator.models import JobRecord, JobState
from tests.e2e.conftest import REPO, Stack
from tests.e2e.helpers import fill, send_with_aws_cli, small_objects

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / "test-output" / "dashboard" / "dashboard.png"
DASHBOARD_LINE = re.compile(r"^dashboard: (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C stops it\)$")
# A job's whole life through the page (sent, listed, copied, found finished): generous.
JOB_TIMEOUT_MS = 60_000

FINISHED, FAILED, RUNNING = "finished", "with-failures", "awaiting-restore"
ARCHIVED_KEY = "archive/cold.bin"


def copy_job(job_id: str, source: str, destination: str, **extra: object) -> dict[str, object]:
    return {
        "job_id": job_id,
        "mode": "copy",
        "source": {"bucket": source},
        "destination": {"bucket": destination},
        **extra,
    }


def wait_for_record(
    stack: Stack, job_id: str, ready: Callable[[JobRecord], bool], timeout_s: float = 120
) -> JobRecord:
    """The job's record once ``ready`` holds (the progress function runs in the background)."""
    store = stack.store()
    deadline = time.monotonic() + timeout_s
    while True:
        record = store.get_job(job_id)
        if record is not None and ready(record):
            return record
        assert time.monotonic() < deadline, f"{job_id}: {record}\n{stack.dump_logs()}"
        time.sleep(0.3)


def start_dashboard(stack: Stack) -> tuple[str, int]:
    """`s3migrator dashboard --port 0` as a process of the stack; its URL and port, read from
    the first line it prints."""
    log = stack.logs / f"dashboard-{len(stack.processes)}.log"
    process = stack.start("dashboard", "dashboard", "--port", "0")
    deadline = time.monotonic() + 30
    while True:
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        if lines:
            found = DASHBOARD_LINE.match(lines[0])
            assert found, f"unexpected first line: {lines[0]!r}"
            return found[1], int(found[2])
        assert process.poll() is None, stack.dump_logs()
        assert time.monotonic() < deadline, "the dashboard printed nothing in 30 s"
        time.sleep(0.1)


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f'tbody.job[data-job-id="{job_id}"]')


def test_dashboard_shows_jobs_starts_one_and_lists_failures(stack: Stack) -> None:
    assert CHROMIUM.exists(), "install Debian's Chromium: apt-get install chromium"
    # GIVEN a stack with a job that succeeded, one that completed with a failed object and one
    # still running, and a source bucket for the job the form will start
    deployed = stack.cli("deploy")
    assert deployed.returncode == 0, deployed.stderr
    s3 = stack.client("s3")
    fill(stack, "done-source", small_objects(40))
    fill(stack, "troubled-source", small_objects(30))
    s3.put_object(
        Bucket="troubled-source", Key=ARCHIVED_KEY, Body=b"frozen", StorageClass="GLACIER"
    )
    waiting = small_objects(20)
    fill(stack, "waiting-source", waiting)
    s3.put_object(
        Bucket="waiting-source", Key="archive/frozen.bin", Body=b"frozen", StorageClass="GLACIER"
    )
    form_objects = small_objects(35, prefix="form/")
    fill(stack, "form-source", form_objects)
    send_with_aws_cli(stack, copy_job(FINISHED, "done-source", "done-destination"))
    # "copy": the archived object is tried as it is, and S3 refuses to read it
    send_with_aws_cli(
        stack, copy_job(FAILED, "troubled-source", "troubled-destination", archived="copy")
    )
    send_with_aws_cli(
        stack, copy_job(RUNNING, "waiting-source", "waiting-destination", archived="restore")
    )
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    stack.start_progress()
    dashboard_url, port = start_dashboard(stack)

    wait_for_record(stack, FINISHED, lambda r: r.state is JobState.SUCCEEDED)
    failed = wait_for_record(stack, FAILED, lambda r: r.state is not JobState.RUNNING)
    assert failed.state is JobState.COMPLETED_WITH_FAILURES, failed
    assert failed.counters.objects_failed == 1
    [failure] = stack.store().batches.failures(FAILED)
    assert failure.key == ARCHIVED_KEY
    assert failure.code in {"InvalidObjectState", "ObjectNotInActiveTierError"}
    assert failure.message.strip(), failure
    # running: every object copied but the archived one, which waits for its restore
    running = wait_for_record(
        stack,
        RUNNING,
        lambda r: r.listing.complete and r.counters.objects_copied == len(waiting),
    )
    assert running.state is JobState.RUNNING, running

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[tuple[str, str]] = []
            page.on("request", lambda request: requests.append((request.method, request.url)))
            failed_answers: list[tuple[int, str]] = []
            page.on(
                "response",
                lambda response: (
                    failed_answers.append((response.status, response.url))
                    if response.status >= 400
                    else None
                ),
            )
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console: {message.text}") if message.type == "error" else None
                ),
            )
            page.goto(dashboard_url)

            # the three jobs of the stack, each as it is
            expect(job_row(page, FINISHED).locator("span.state")).to_have_text(
                "✔ succeeded", timeout=JOB_TIMEOUT_MS
            )
            expect(job_row(page, FINISHED).locator("div.bar[role=progressbar]")).to_have_attribute(
                "aria-valuenow", "100"
            )
            expect(job_row(page, FAILED).locator("span.state")).to_have_text(
                "⚠ completed with failures"
            )
            expect(job_row(page, RUNNING).locator("span.state")).to_have_text("● running")

            # WHEN the form starts a copy of form-source
            page.get_by_label("Mode", exact=True).select_option("copy")
            page.get_by_label("Source bucket", exact=True).fill("form-source")
            page.get_by_label("Destination bucket", exact=True).fill("form-destination")
            page.get_by_role("button", name="Start job").click()

            # THEN the result names the new job, whose row fills its bar to 100% and succeeds
            result = page.locator("#start-result")
            expect(result).to_contain_text(
                re.compile(r"Started job [0-9a-f]{32}\."), timeout=JOB_TIMEOUT_MS
            )
            started = re.search(r"Started job ([0-9a-f]{32})\.", result.inner_text())
            assert started, result.inner_text()
            new_id = started[1]
            row = job_row(page, new_id)
            expect(row).to_have_count(1, timeout=JOB_TIMEOUT_MS)
            expect(row.locator("div.bar[role=progressbar]")).to_have_attribute(
                "aria-valuenow", "100", timeout=JOB_TIMEOUT_MS
            )
            expect(row.locator("span.state")).to_have_text("✔ succeeded", timeout=JOB_TIMEOUT_MS)
            expect(row.locator("span.percent")).to_have_text("100%")
            # the job the form sent is the one asked for, and it copied every object
            record = stack.store().get_job(new_id)
            assert record is not None and record.spec is not None
            assert (record.spec.source.bucket, record.spec.destination.bucket) == (
                "form-source",
                "form-destination",
            )
            assert record.state is JobState.SUCCEEDED
            assert record.counters.objects_copied == len(form_objects)

            # WHEN the failed job's failures are opened with the keyboard
            failures = job_row(page, FAILED).locator("details.failures")
            summary = failures.locator("> summary")
            expect(summary).to_have_text("Failures (1)")
            expect(failures).not_to_have_attribute("open", "")
            summary.focus()
            expect(summary).to_be_focused()
            page.keyboard.press("Enter")

            # THEN the failed key shows with its code and S3's reason
            expect(failures).to_have_attribute("open", "")
            item = failures.locator("ol.flist > li")
            expect(item).to_have_count(1, timeout=JOB_TIMEOUT_MS)
            expect(item.locator("code.key")).to_have_text(ARCHIVED_KEY)
            expect(item.locator("span.fcode")).to_have_text(failure.code)
            expect(item.locator("p.fmsg")).to_have_text(failure.message)
            expect(item.locator("p.fmsg")).to_be_visible()
            # loaded from the failures route, not the status's first failures (its fallback)
            expect(failures.locator("p.fstatus")).to_have_text("")

            # AND the running job is still running as the page is photographed
            running_row = job_row(page, RUNNING)
            expect(running_row.locator("span.state")).to_have_text("● running")
            shown = int(
                running_row.locator("div.bar[role=progressbar]").get_attribute("aria-valuenow")
                or "100"
            )
            assert 0 < shown < 100
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert SCREENSHOT.stat().st_size > 10_000
        finally:
            browser.close()

    still = stack.store().get_job(RUNNING)
    assert still is not None and still.state is JobState.RUNNING, still

    # the page asked nothing of any host but the dashboard's own, and asked it what it shows (a
    # request its Content-Security-Policy refuses never fires "request": a console error does)
    assert not problems, problems
    assert not failed_answers, failed_answers
    elsewhere = [
        url
        for _, url in requests
        if (urlsplit(url).hostname, urlsplit(url).port) != ("127.0.0.1", port)
    ]
    assert not elsewhere, elsewhere
    paths = {(method, urlsplit(url).path) for method, url in requests}
    assert {
        ("GET", "/"),
        ("GET", "/dashboard.js"),
        ("GET", "/dashboard.css"),
        ("GET", "/jobs"),
        ("POST", "/jobs"),
        ("GET", f"/jobs/{FAILED}/failures"),
    } <= paths, paths
