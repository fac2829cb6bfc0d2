"""``copier.wire`` gives up as botocore's client would: at the deadline, and at the client's
connect and read timeouts; a partial answer is no answer, and the next request goes on a new
connection."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from wire_server import CHUNKED, HALF, OK, REQUEST, Serve, Step, ask

from copier.wire import Connections, NoAnswer

PARTIAL = {
    "closed before answering": (Step(b"", close=True), False),
    "closed mid-body": (Step(HALF, close=True), False),
    "closed mid-chunk": (Step(CHUNKED + b"5\r\nhel", close=True), False),
    "silent past the deadline": (Step(b"", hang=True), True),
    "half an answer past the deadline": (Step(HALF, hang=True), True),
}


@pytest.mark.parametrize(("step", "timed_out"), PARTIAL.values(), ids=PARTIAL.keys())
def test_a_partial_answer_is_no_answer_and_the_next_goes_on_a_new_connection(
    serve: Serve, step: Step, timed_out: bool
) -> None:
    # GIVEN a server that stops short of a whole answer, closing or holding the connection
    server = serve([step, Step(OK)])
    connections = Connections(None)
    started = time.monotonic()
    # WHEN a request is exchanged with a 0.3 s deadline
    with pytest.raises(NoAnswer) as raised:
        ask(connections, server, deadline_s=0.3)
    # THEN there is no answer, timed out (at the deadline) only when the server held on
    elapsed = time.monotonic() - started
    assert raised.value.timed_out is timed_out
    assert (elapsed >= 0.25) is timed_out and elapsed < 2.0
    # AND the next request is answered on a new connection
    assert ask(connections, server).body == b"ok"
    assert server.on == [0, 1]


WAITS = {"the deadline": (0.3, None), "the connect timeout": (5.0, 0.3)}


@pytest.mark.parametrize(("deadline_s", "connect_s"), WAITS.values(), ids=WAITS.keys())
def test_a_tls_handshake_past_the_deadline_or_connect_timeout_times_out(
    serve: Serve, deadline_s: float, connect_s: float | None
) -> None:
    # GIVEN a server that accepts the connection but never answers the TLS handshake
    server = serve([])
    connections = Connections(ssl.create_default_context())
    started = time.monotonic()
    # WHEN a request is exchanged over https, with a 0.3 s deadline or connect timeout
    with pytest.raises(NoAnswer) as raised:
        url = urlsplit(server.url("https"))
        connections.exchange(url, REQUEST, deadline_s, connect_s=connect_s)
    # THEN it gives up at 0.3 s, saying so
    assert time.monotonic() - started < 2.0
    assert raised.value.timed_out


def test_a_server_silent_past_the_read_timeout_is_given_up_before_the_deadline(
    serve: Serve,
) -> None:
    # GIVEN a server that sends half an answer and holds on, then one that answers slowly, each
    # of its bytes 10 ms after the last
    server = serve([Step(HALF, hang=True), Step(OK, trickle=True, gap_s=0.01)])
    connections = Connections(None)
    url = urlsplit(server.url())
    started = time.monotonic()
    # WHEN requests are exchanged with a 5 s deadline and a 0.2 s read timeout
    with pytest.raises(NoAnswer) as raised:
        connections.exchange(url, REQUEST, 5.0, read_s=0.2)
    # THEN the silent one is given up at the read timeout, not at the deadline
    assert raised.value.timed_out and time.monotonic() - started < 2.0
    # AND the slow one, longer in all than the read timeout but never silent as long, is whole
    started = time.monotonic()
    assert connections.exchange(url, REQUEST, 5.0, read_s=0.2).body == b"ok"
    assert time.monotonic() - started > 0.2


@pytest.fixture
def silent_address() -> Iterator[tuple[str, int]]:
    """An address whose connections are never accepted: its listener's queue is full, so the
    kernel drops every further SYN and a connect waits until it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())
    yield listener.getsockname()
    filler.close()
    listener.close()


SECOND = {"two silent addresses": ("http", True), "a silent TLS handshake": ("https", False)}


@pytest.mark.parametrize(("scheme", "second_silent"), SECOND.values(), ids=SECOND.keys())
def test_connecting_ends_at_the_deadline_whatever_the_steps(
    serve: Serve,
    silent_address: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
    second_silent: bool,
) -> None:
    # GIVEN a name whose first address never accepts, and whose second never accepts either or
    # accepts but never answers the TLS handshake
    second = silent_address if second_silent else ("127.0.0.1", serve([]).port)
    real = socket.getaddrinfo

    def two_addresses(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "bucket.example":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a) for a in (silent_address, second)]

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    connections = Connections(ssl.create_default_context())
    url = urlsplit(f"{scheme}://bucket.example:{silent_address[1]}/bucket/key")
    started = time.monotonic()
    # WHEN a request is exchanged with a 1 s deadline and a 0.7 s connect timeout
    with pytest.raises(NoAnswer) as raised:
        connections.exchange(url, REQUEST, 1.0, connect_s=0.7)
    # THEN it gives up at the deadline: each step had what was left of it, at most 0.7 s
    assert raised.value.timed_out
    assert 0.9 < time.monotonic() - started < 1.25
