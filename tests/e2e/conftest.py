"""End-to-end fixtures: a moto server on loopback and the real CLI processes around it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3migrator.cli.local.server import LOCAL_STACK_SETTINGS, MotoServer, local_env
from s3migrator.jobstore import JobStore
from s3migrator.resources import OUTPUTS, Resources, outputs_of
from tests.e2e.follow import Following

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def endpoint_client(endpoint: str, service: str) -> Any:
    """A boto3 client for the embedded stack at ``endpoint``, with its test credentials."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Stack:
    """A moto server, the environment that points clients at it, and the processes started."""

    endpoint: str
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return endpoint_client(self.endpoint, service)

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``s3migrator ARGS`` to completion."""
        return subprocess.run(
            [str(BIN / "s3migrator"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the AWS CLI against the stack, as a user would.

        ``--endpoint-url`` is given explicitly: AWS CLI v1 replaces the SQS endpoint in
        us-east-1 with its legacy host name and so ignores ``AWS_ENDPOINT_URL`` for SQS there.
        """
        aws = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
        assert aws, "the AWS CLI is installed with the dev extras"
        return subprocess.run(
            [aws, "--endpoint-url", self.endpoint, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running ``s3migrator`` process, logging to a file."""
        log = (self.logs / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "s3migrator"), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def status(self, job_id: str) -> dict[str, Any] | None:
        """``s3migrator status JOB --json``, or None while the coordinator has not seen the job."""
        result = self.cli("status", job_id, "--json")
        if result.returncode == 4 and "no job" in result.stderr:
            return None
        # 0 while running or succeeded, 1 once the job failed or completed with failures
        assert result.returncode in (0, 1), result.stderr
        return dict(json.loads(result.stdout))

    def start_progress(self) -> subprocess.Popen[bytes]:
        """The progress function on a one-second timer, as `local up` runs it."""
        return self.start("progress", "progress", "--every", "1")

    def follow(self, job_id: str) -> Following:
        """Follow the job with ``status JOB --watch --json``, the progress function running
        every second meanwhile (see ``Following``)."""
        progress = self.start_progress()
        errors = (self.logs / f"watch-{len(self.processes)}.log").open("w+")
        command = ["status", job_id, "--watch", "--json", "--interval", "1"]
        watch = subprocess.Popen(
            [str(BIN / "s3migrator"), *command],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        self.processes.append(watch)
        return Following(watch, progress, errors)

    def wait_for_state(self, job_id: str, timeout_s: float = 240) -> dict[str, Any]:
        """Follow the job until it ends; its last status."""
        with self.follow(job_id) as following:
            return following.wait(timeout_s)

    def resources(self, stack_name: str = "s3migrator") -> Resources:
        values = outputs_of(self.client("cloudformation"), stack_name)
        return Resources.model_validate({field: values[key] for key, field in OUTPUTS.items()})

    def store(self) -> JobStore:
        return JobStore(self.client("dynamodb"), self.resources().table_name)

    def dump_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # moto's recorder (tests/e2e/recorder.py) keeps its file here, not in the working tree.
    monkeypatch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path / "moto-recording"))
    with MotoServer() as server:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "S3MIGRATOR_"))
        }
        env.update(local_env(server.endpoint), **LOCAL_STACK_SETTINGS)
        env.update(
            {
                # Lowered so a few test objects take the multipart path.
                "S3MIGRATOR_MULTIPART_THRESHOLD_BYTES": str(8 * 1024**2),
                "S3MIGRATOR_PART_SIZE_BYTES": str(5 * 1024**2),
                "S3MIGRATOR_WAIT_TIME_S": "1",
                "S3MIGRATOR_BATCH_MAX_KEYS": "25",
                # A killed coordinator's job is resumed once its lease runs out.
                "S3MIGRATOR_LEASE_S": "15",
                "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        running = Stack(server.endpoint, env, logs)
        try:
            yield running
        finally:
            for process in running.processes:
                if process.poll() is None:
                    process.terminate()
            for process in running.processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
