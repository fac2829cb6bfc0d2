"""The copy scenario end to end: real CLI processes against a moto server over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from coordinator.verify import verify
from s3migrator.models import Location
from tests.e2e.conftest import BIN, Stack

pytestmark = pytest.mark.e2e

MiB = 1024**2


def fill(stack: Stack, bucket: str, small: int, large_sizes: list[int]) -> dict[str, bytes]:
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    objects = {f"data/{i:04d} file+{i % 7}.txt": os.urandom(i % 2048) for i in range(small)}
    objects.update({f"big/object-{n}.bin": os.urandom(size) for n, size in enumerate(large_sizes)})
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-test")
    return objects


def test_job_sent_with_aws_cli_is_copied_by_coordinator_and_two_copiers(stack: Stack) -> None:
    # GIVEN a deployed stack and a source bucket with small and multipart-sized objects
    deployed = stack.cli("deploy")
    assert deployed.returncode == 0, deployed.stderr
    objects = fill(stack, "e2e-source", small=240, large_sizes=[11 * MiB, 9 * MiB + 3])
    queue_url = stack.resources().jobs_queue_url

    # WHEN a user sends the minimal job message with the AWS CLI and the processes run
    body = {
        "job_id": "e2e-aws-cli",
        "mode": "copy",
        "source": {"bucket": "e2e-source"},
        "destination": {"bucket": "e2e-destination"},
    }
    sent = stack.aws(
        "sqs", "send-message", "--queue-url", queue_url, "--message-body", json.dumps(body)
    )
    assert sent.returncode == 0, sent.stderr
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    stack.start("copier", "copier")
    status = stack.wait_for_state("e2e-aws-cli")

    # THEN the job succeeded at exactly 100% with exact counts and an identical destination
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["percent"] == 100
    assert status["objects_total"] == len(objects)
    assert status["objects_copied"] == len(objects)
    assert status["objects_failed"] == 0
    assert status["bytes_copied"] == sum(len(b) for b in objects.values())
    assert status["enumeration_complete"] is True
    report = verify(
        stack.client("s3"), Location(bucket="e2e-source"), Location(bucket="e2e-destination")
    )
    assert report.ok, report
    assert report.objects == len(objects)
    # the multipart copies kept the object's content type
    head = stack.client("s3").head_object(Bucket="e2e-destination", Key="big/object-0.bin")
    assert head["ContentType"] == "application/x-test"


def test_same_job_id_sent_twice_runs_one_job(stack: Stack) -> None:
    # GIVEN a deployed stack and a source bucket
    assert stack.cli("deploy").returncode == 0
    objects = fill(stack, "twice-source", small=60, large_sizes=[])

    # WHEN the same job is submitted twice with the CLI and the processes run
    for _ in range(2):
        submitted = stack.cli(
            "submit",
            "--source",
            "s3://twice-source/data/",
            "--dest",
            "s3://twice-destination/copy/",
            "--job-id",
            "twice",
        )
        assert submitted.returncode == 0, submitted.stderr
        assert submitted.stdout.strip() == "twice"
    stack.start("coordinator", "coordinator")
    stack.start("copier", "copier")
    status = stack.wait_for_state("twice")

    # THEN one job copied every object once, under the destination prefix
    assert status["state"] == "succeeded", stack.dump_logs()
    assert status["objects_total"] == status["objects_copied"] == len(objects)
    listed = stack.cli("status", "--json")
    assert [job["job_id"] for job in json.loads(listed.stdout)] == ["twice"]
    report = verify(
        stack.client("s3"),
        Location(bucket="twice-source", prefix="data/"),
        Location(bucket="twice-destination", prefix="copy/"),
    )
    assert report.ok and report.objects == len(objects)


def test_demo_command_ends_with_passing_verification(tmp_path) -> None:
    # GIVEN nothing but the installed CLI
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3MIGRATOR_"))}

    # WHEN the demo runs on its embedded stack
    result = subprocess.run(
        [
            str(BIN / "s3migrator"),
            "demo",
            "--objects",
            "200",
            "--workers",
            "2",
            "--logs",
            str(tmp_path / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # THEN it exits 0 with a passing verification and a summary
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verification" in result.stdout and "passed" in result.stdout
    assert "objects/s" in result.stdout
    assert "│ objects copied │ 200" in result.stdout


def test_local_up_serves_jobs_sent_by_the_aws_cli(stack: Stack, tmp_path) -> None:
    # GIVEN `s3migrator local up` running in the foreground on its own port
    from s3migrator.cli.local.server import free_port

    port = free_port()
    env = {**stack.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    up = subprocess.Popen(
        [str(BIN / "s3migrator"), "local", "up", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert up.stdout is not None
        lines = []
        for line in up.stdout:
            lines.append(line)
            if "jobs queue:" in line:
                break
        queue_url = lines[-1].split("jobs queue:", 1)[1].strip()
        assert "embedded stack up" in "".join(lines)

        # WHEN a user creates a bucket, uploads files and sends a job, all with the AWS CLI
        local = Stack(f"http://127.0.0.1:{port}", env, stack.logs)
        assert local.aws("s3api", "create-bucket", "--bucket", "cli-source").returncode == 0
        for i in range(30):
            path = tmp_path / f"file-{i}.txt"
            path.write_bytes(os.urandom(100 + i))
            put = local.aws("s3", "cp", str(path), f"s3://cli-source/files/file-{i}.txt")
            assert put.returncode == 0, put.stderr
        body = json.dumps(
            {
                "job_id": "from-cli",
                "mode": "copy",
                "source": {"bucket": "cli-source"},
                "destination": {"bucket": "cli-destination"},
            }
        )
        sent = local.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", body)
        assert sent.returncode == 0, sent.stderr
        status = local.wait_for_state("from-cli", timeout_s=120)

        # THEN the embedded stack's own coordinator and copiers finished the job
        assert status["state"] == "succeeded"
        assert status["objects_copied"] == 30
        listing = local.aws("s3", "ls", "s3://cli-destination/files/")
        assert listing.stdout.count("file-") == 30
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
    assert up.returncode == 130  # Ctrl-C: interrupted, as for every command
    time.sleep(0)
