"""The bench's moto server: in this process, so buckets are seeded and watched through moto's
backend directly, while every tool measured reaches it over HTTP on loopback like any client.

It carries the embedded stack's fixes (``patch_moto``: serialised DynamoDB, whole recorder
entries, change-set outputs, S3's request conditions) and the bench's, which keep moto's cost
per request from growing with the bucket, the table and the queue: a sorted key index for
ListObjectsV2 (``listing_index``), transaction snapshots of the touched items alone
(``transaction_snapshots``) and queue counts in one pass (``queue_counts``).
moto's recorder writes every request it receives to ``MOTO_RECORDER_FILEPATH``, which must be
set before moto is imported (``configure_recorder``).

moto's app is served by cheroot rather than by moto's own werkzeug server: werkzeug closes the
connection after every response, so each request measured would pay a TCP connect that S3,
which keeps connections open, does not ask of it. cheroot keeps them open, and returns an idle
one to its selector rather than holding a thread, so s5cmd's 256 connections are served too.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any

from bench import listing_index, queue_counts, transaction_snapshots
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.cli.local.server import free_port, local_env

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


def configure_recorder(path: Path) -> None:
    """Point moto's recorder at ``path``; call before anything imports moto."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.environ["MOTO_RECORDER_FILEPATH"] = str(path)


class BenchServer:
    def __init__(self, threads: int = 64) -> None:
        from cheroot import wsgi
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        patch_moto()
        listing_index.install()
        listing_index.install_renderer()
        transaction_snapshots.install()
        queue_counts.install()
        self.port = free_port()
        app = DomainDispatcherApplication(create_backend_app)
        self._server = wsgi.Server(
            ("127.0.0.1", self.port), app, numthreads=threads, request_queue_size=1024
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return local_env(self.endpoint, REGION)

    def start(self) -> BenchServer:
        self._server.prepare()  # bound and listening when this returns
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=10)

    @staticmethod
    def _s3() -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[ACCOUNT]["global"]

    def seed(self, bucket: str, keys: list[str], size: int) -> None:
        """Objects put through moto's backend: no HTTP, so a million take a minute or so."""
        backend = self._s3()
        if bucket not in backend.buckets:
            backend.create_bucket(bucket, REGION)
        body = os.urandom(size)
        for key in keys:
            backend.put_object(bucket, key, body)

    def count(self, bucket: str) -> int:
        """Objects in ``bucket`` now (0 while it does not exist): the bench's stopwatch."""
        found = self._s3().buckets.get(bucket)
        return 0 if found is None else len(found.keys)

    def drop(self, bucket: str) -> None:
        """Forget a bucket and its objects (frees a big source's memory between runs)."""
        self._s3().buckets.pop(bucket, None)

    def _recorder(self, action: str) -> str:
        method = "GET" if action == "download-recording" else "POST"
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/recorder/{action}", method=method
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(response.read().decode())

    def start_recording(self) -> None:
        self._recorder("reset-recording")
        self._recorder("start-recording")

    def stop_recording(self) -> list[dict[str, Any]]:
        self._recorder("stop-recording")
        text = self._recorder("download-recording")
        return [json.loads(line) for line in text.splitlines() if line.strip()]
