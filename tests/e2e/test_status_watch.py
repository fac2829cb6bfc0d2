"""Following a job: a live table on a terminal, one line per change on a pipe.

A job sent straight to the jobs queue is not known until the coordinator takes it; watching it
then waits for the coordinator rather than answering "no job".
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time

import pytest

from tests.e2e.conftest import BIN, Stack
from tests.e2e.helpers import fill, small_objects

pytestmark = pytest.mark.e2e
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def send_job(stack: Stack, job_id: str, source: str, destination: str) -> None:
    body = {
        "job_id": job_id,
        "mode": "copy",
        "source": {"bucket": source},
        "destination": {"bucket": destination},
    }
    sent = stack.aws(
        "sqs",
        "send-message",
        "--queue-url",
        stack.resources().jobs_queue_url,
        "--message-body",
        json.dumps(body),
    )
    assert sent.returncode == 0, sent.stderr


def run_on_a_terminal(stack: Stack, *args: str, timeout_s: float = 120) -> tuple[int, str]:
    """Run ``s3migrator ARGS`` with a pseudo-terminal as its stdout and stderr."""
    leader, follower = pty.openpty()
    env = {**stack.env, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    process = subprocess.Popen(
        [str(BIN / "s3migrator"), *args], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    output = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                output.extend(chunk)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, ANSI.sub("", output.decode(errors="replace"))


def test_status_watch_on_a_terminal_draws_a_live_table_until_the_job_ends(stack: Stack) -> None:
    # GIVEN a job of 300 objects running under a coordinator and a copier
    assert stack.cli("deploy").returncode == 0
    fill(stack, "watched-source", small_objects(300))
    send_job(stack, "watched", "watched-source", "watched-destination")
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start_progress()
    # WHEN a user watches it on a terminal
    code, screen = run_on_a_terminal(stack, "status", "watched", "--watch", "--interval", "0.5")
    # THEN the live table showed the job with its bar, and ended on it succeeded at 100%
    assert code == 0, screen
    assert "━" in screen
    final = [line for line in screen.splitlines() if "watched" in line and "succeeded" in line]
    assert final, screen
    assert "100%" in final[-1] and "300/300" in final[-1]
    assert "Traceback" not in screen


def test_watching_a_job_still_on_the_jobs_queue_waits_for_the_coordinator(stack: Stack) -> None:
    # GIVEN a job sent straight to the jobs queue while no coordinator runs yet
    assert stack.cli("deploy").returncode == 0
    fill(stack, "queued-source", small_objects(60))
    send_job(stack, "queued", "queued-source", "queued-destination")
    # WHEN it is watched on a pipe, and the coordinator and a copier start a little later
    watcher = subprocess.Popen(
        [str(BIN / "s3migrator"), "status", "queued", "--watch", "--interval", "0.5"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    assert watcher.poll() is None, "an unknown job with a message on the way is waited for"
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start_progress()
    out, err = watcher.communicate(timeout=120)
    # THEN it said it was waiting, then printed one plain line per change, the last one final
    assert watcher.returncode == 0, out + err
    assert "job queued is not known yet; 1 job messages wait for a coordinator to take them" in err
    lines = out.splitlines()
    assert all(line.startswith("queued ") for line in lines), out
    assert lines[-1].startswith("queued succeeded finished 100% objects 60/60")
    assert len(lines) == len(set(lines))
