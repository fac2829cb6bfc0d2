"""A moto server on loopback: a real HTTP endpoint that every AWS client can use."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from types import TracebackType

from s3migrator.cli.local.orphans import child_environment
from s3migrator.errors import ConfigurationError

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something listens there (connections closing in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# The SenderId moto gives every SQS message, whoever sends it: on the embedded stack each
# client is this one submitter (moto's DEFAULT_SENDER_ID; a test pins the two together).
LOCAL_SUBMITTER = "AIDAIT2UOQQY3AUEKVGXU"


# What the embedded stack's own processes (coordinator, copiers) are configured with beside the
# endpoint: its one job submitter.
LOCAL_STACK_SETTINGS = {"S3MIGRATOR_JOB_SUBMITTERS": LOCAL_SUBMITTER}


def local_env(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """Standard AWS variables pointing every client (boto3, the AWS CLI) at the endpoint."""
    return {
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


class MotoServer:
    """Starts moto's server as a child process of its own session and stops it on exit."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        # The last lines the server wrote (it logs every request there): why it stopped.
        self._errors: deque[str] = deque(maxlen=20)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> MotoServer:
        if not all(importlib.util.find_spec(module) for module in ("moto", "flask")):
            raise ConfigurationError(
                "the embedded stack needs moto's server, which s3migrator's `local` extra"
                " installs: pipx install '.[local]' (or pip install '.[local]')"
            )
        if port_in_use(self.host, self.port):
            # Without this, a stale server on the port would answer and look like ours.
            raise ConfigurationError(
                f"port {self.port} on {self.host} is in use (an earlier `s3migrator local up`?);"
                " stop what holds it or choose another --port"
            )
        self._process = subprocess.Popen(
            # moto's server, with two behaviours made to match AWS (see motoserver).
            [
                sys.executable,
                "-m",
                "s3migrator.cli.local.motoserver",
                "-H",
                self.host,
                "-p",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **LOCAL_CREDENTIALS, **child_environment()},
            start_new_session=True,
        )
        threading.Thread(target=self._read_errors, name="moto-stderr", daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigurationError(
                    f"moto server exited with {self._process.returncode}: {self.last_error()}"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise ConfigurationError(f"moto server did not answer on {self.endpoint}")

    def _read_errors(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._errors.append(line.decode(errors="replace").rstrip())

    def last_error(self) -> str:
        """The last line the server wrote to stderr (why it could not start or went away)."""
        lines = [line for line in self._errors if line]
        return lines[-1] if lines else "no message"

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
