"""A copier stopped in the middle of a multipart copy leaves no upload behind, and the buckets
the tool creates clean up any upload that was left anyway."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from moto_helpers import fill, job_message

from copier.process import built_worker
from copier.protection import TaskProtection
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources
from s3migrator.settings import MiB, Settings


def test_a_copier_released_past_its_grace_aborts_its_uploads_after_their_running_parts(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a copier in the middle of a multipart copy (three 5 MiB parts), one part still
    # running when it is told to stop with no grace
    fill(s3, "src-bucket", {"big.bin": os.urandom(15 * MiB)})
    make_runner().run(job_message("job-1"))
    copier_s3 = aws.s3()
    part_running, part_may_end = threading.Event(), threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls.append(model.name)

    def hold_the_first_part(**_: Any) -> None:
        if not part_running.is_set():
            part_running.set()
            assert part_may_end.wait(30)

    copier_s3.meta.events.register("before-call.s3.UploadPartCopy", hold_the_first_part)
    copier_s3.meta.events.register("after-call.s3", record)
    settings = Settings(
        multipart_threshold_bytes=8 * MiB,
        part_size_bytes=5 * MiB,
        stop_grace_s=0,
        wait_time_s=0,
        idle_exit_s=5,
    )
    abandoned: list[bool] = []
    with built_worker(settings, aws, resources, store=store, s3=copier_s3) as worker:
        serving = threading.Thread(target=lambda: abandoned.append(worker.serve()))
        serving.start()
        assert part_running.wait(30)
        # WHEN it is stopped, and its running part ends a moment later
        worker.stop.set()
        threading.Timer(3, part_may_end.set).start()
        serving.join(60)
        # (the moment serve returns is the moment the process exits)
        left = s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", [])
    # THEN it gave its batch up, and aborted the upload only once the running part had ended
    assert abandoned == [True]
    assert left == []
    assert "AbortMultipartUpload" in calls
    assert calls.index("AbortMultipartUpload") > max(
        i for i, name in enumerate(calls) if name == "UploadPartCopy"
    )


def test_a_destination_the_tool_creates_drops_uploads_left_incomplete(
    s3: Any, store: JobStore, make_runner: Any
) -> None:
    # GIVEN a job into a bucket that does not exist WHEN the coordinator creates it
    fill(s3, "src-bucket", {"a": b"1"})
    make_runner().run(job_message("job-1"))
    # THEN the bucket aborts multipart uploads left incomplete for a day
    rules = s3.get_bucket_lifecycle_configuration(Bucket="dst-bucket")["Rules"]
    assert [
        (r["Status"], r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) for r in rules
    ] == [("Enabled", 1)]


class _Agent(BaseHTTPRequestHandler):
    """The ECS agent's task-protection endpoint, recording what it is told."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Agent.calls.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_copier_on_ecs_is_protected_from_scale_in_only_while_it_holds_batches(
    aws: Aws, s3: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN the ECS agent's endpoint, and a job of one batch
    agent = ThreadingHTTPServer(("127.0.0.1", 0), _Agent)
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    _Agent.calls.clear()
    fill(s3, "src-bucket", {"a": b"1", "b": b"2"})
    make_runner().run(job_message("job-1"))
    settings = Settings(wait_time_s=0, idle_exit_s=0.5)
    # WHEN a copier on that task drains the queue
    try:
        with built_worker(settings, aws, resources, store=store) as worker:
            worker.protection = TaskProtection(f"http://127.0.0.1:{agent.server_address[1]}")
            worker.serve()
    finally:
        agent.shutdown()
    # THEN it asked for protection while it held the batch, and gave it up once idle
    assert _Agent.calls == [
        ("/task-protection/v1/state", {"ProtectionEnabled": True, "ExpiresInMinutes": 60}),
        ("/task-protection/v1/state", {"ProtectionEnabled": False}),
    ]


def test_protection_is_renewed_before_it_runs_out_and_costs_nothing_off_ecs() -> None:
    sent: list[dict[str, object]] = []
    now = [0.0]
    protection = TaskProtection(
        "http://agent", clock=lambda: now[0], send=lambda _, b: sent.append(b)
    )
    protection.update(busy=True)
    now[0] = 29 * 60
    protection.update(busy=True)
    now[0] = 31 * 60
    protection.update(busy=True)
    protection.update(busy=False)
    protection.update(busy=False)
    assert [b["ProtectionEnabled"] for b in sent] == [True, True, False]
    off_ecs = TaskProtection(None, send=lambda _, b: sent.append(b))
    off_ecs.update(busy=True)
    assert len(sent) == 3
