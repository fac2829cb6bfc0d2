"""Fixtures of the unit tests."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from wire_server import Serve, Server, Step


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts a ``Server(steps, tls=None)``, stopped when the test ends."""
    servers: list[Server] = []

    def start(steps: list[Step], tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(steps, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
