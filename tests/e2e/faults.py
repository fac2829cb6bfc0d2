"""Fault injection for end-to-end tests: a loopback HTTP proxy in front of the moto server.

Point clients at :attr:`FaultProxy.endpoint` instead of the moto endpoint and every request is
forwarded unchanged (method, raw request target, headers except ``Host``, body bytes), unless a
fault picks it::

    with MotoServer() as moto, FaultProxy(moto.endpoint, seed=7) as proxy:
        proxy.slowdown_fraction = 0.2  # 20% of matching requests: 503 SlowDown, not forwarded
        proxy.drop_fraction = 0.1  # 10% of matching requests: connection closed, no response
        proxy.match = lambda method, target, headers: method == "PUT"  # or service_is("s3")
        proxy.deny("source-bucket/secret/")  # 403 AccessDenied, also as a copy source
        ...
        assert proxy.counters.slowdowns > 0

Faults are decided after the whole request has been read, so the client's connection stays
usable after a 503 or 403 (HTTP/1.1 keep-alive). Random choices come from a seeded
:class:`random.Random`; with a single sequential client a run is reproducible, with concurrent
clients only the mix is.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from types import TracebackType
from urllib.parse import unquote, urlsplit

from tests.e2e.fault_http import _NOT_FORWARDED, _Server, _UpstreamConnection

#: ``match(method, target, headers) -> bool``: ``target`` is the raw request target (path and
#: query exactly as received, still percent-encoded); ``headers`` look-ups are case-insensitive.
Match = Callable[[str, str, Message], bool]


@dataclass(frozen=True)
class FaultCounters:
    """A snapshot of what the proxy did.

    ``requests`` counts requests as they arrive; each then adds to exactly one of the others once
    it is answered, so requests still in flight (an SQS long poll, say) appear only there.
    """

    requests: int = 0
    forwarded: int = 0
    slowdowns: int = 0
    drops: int = 0
    denied: int = 0
    refused: int = 0
    upstream_errors: int = 0


@dataclass
class Refusal:
    """``times`` more requests of ``method`` on exactly ``path`` get the S3 error ``code``."""

    method: str
    path: str
    status: int
    code: str
    times: int

    @property
    def body(self) -> bytes:
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{self.code}</Code>'
            f"<Message>{self.code} (fault proxy)</Message><RequestId>fault</RequestId></Error>"
        ).encode()


def _copy_source_key(value: str) -> str:
    """The decoded ``bucket/key`` of an ``x-amz-copy-source`` header value."""
    return unquote(value.split("?", 1)[0]).lstrip("/")


class FaultProxy:
    """A loopback HTTP proxy that forwards to ``upstream`` and injects S3-style faults.

    Faults, checked in this order for every request:

    * ``deny(pattern)``: the decoded path, or the decoded ``x-amz-copy-source`` of a
      CopyObject / UploadPartCopy, contains ``pattern`` -> 403 AccessDenied, not forwarded.
    * ``drop_fraction``: that fraction of requests accepted by ``match`` -> the connection is
      closed without a response, not forwarded.
    * ``slowdown_fraction``: that fraction of requests accepted by ``match`` -> 503 SlowDown,
      not forwarded.

    Every request accepted by ``match`` draws two random numbers (drop, then slowdown) whatever
    the fractions, so the random sequence does not depend on the settings.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        slowdown_fraction: float = 0.0,
        drop_fraction: float = 0.0,
        match: Match | None = None,
        upstream_timeout_s: float = 120.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._upstream_netloc = parts.netloc
        self._upstream_timeout_s = upstream_timeout_s
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._slowdown_fraction = _fraction(slowdown_fraction)
        self._drop_fraction = _fraction(drop_fraction)
        self._match = match
        self._denied: list[str] = []
        self._refusals: list[Refusal] = []
        self._counts: dict[str, int] = dict.fromkeys(vars(FaultCounters()), 0)
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the fault proxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            raise RuntimeError("the fault proxy is already running")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fault-proxy",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        # Handler threads wait on idle keep-alive connections: closing them lets them end.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- configuration (thread-safe) ------------------------------------------------------

    @property
    def slowdown_fraction(self) -> float:
        with self._lock:
            return self._slowdown_fraction

    @slowdown_fraction.setter
    def slowdown_fraction(self, value: float) -> None:
        with self._lock:
            self._slowdown_fraction = _fraction(value)

    @property
    def drop_fraction(self) -> float:
        with self._lock:
            return self._drop_fraction

    @drop_fraction.setter
    def drop_fraction(self, value: float) -> None:
        with self._lock:
            self._drop_fraction = _fraction(value)

    @property
    def match(self) -> Match | None:
        """The predicate selecting requests for drops and slowdowns; None selects all."""
        with self._lock:
            return self._match

    @match.setter
    def match(self, value: Match | None) -> None:
        with self._lock:
            self._match = value

    def deny(self, pattern: str) -> None:
        """Answer 403 AccessDenied to requests whose decoded path or copy source has pattern."""
        if not pattern:
            raise ValueError("an empty pattern would deny every request")
        with self._lock:
            if pattern not in self._denied:
                self._denied.append(pattern)

    def allow(self, pattern: str) -> None:
        """Remove the deny rule for pattern (no error if there is none)."""
        with self._lock:
            if pattern in self._denied:
                self._denied.remove(pattern)

    def refuse(self, method: str, path: str, status: int, code: str, *, times: int) -> None:
        """Answer the next ``times`` requests of ``method`` on exactly ``path`` (decoded, no
        query: ``PUT /bucket`` is CreateBucket, ``PUT /bucket?tagging`` is not) with the S3
        error ``code`` and ``status``, not forwarded."""
        with self._lock:
            self._refusals.append(Refusal(method, path, status, code, times))

    @property
    def denied(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._denied)

    def clear_faults(self) -> None:
        """Forward everything again: no slowdowns, no drops, no deny rules, no predicate."""
        with self._lock:
            self._slowdown_fraction = self._drop_fraction = 0.0
            self._match = None
            self._denied.clear()
            self._refusals.clear()

    # -- counters ---------------------------------------------------------------------------

    @property
    def counters(self) -> FaultCounters:
        with self._lock:
            return FaultCounters(**self._counts)

    def reset_counters(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)

    # -- used by the handler --------------------------------------------------------------

    def _register(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _unregister(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _decide(self, method: str, target: str, headers: Message) -> str | Refusal | None:
        """Which fault, if any, this request gets; counts it."""
        path, _, query = target.partition("?")
        with self._lock:
            self._counts["requests"] += 1
            denied = list(self._denied)
            match = self._match
            for refusal in self._refusals:
                if refusal.times and (method, unquote(path), query) == (
                    refusal.method,
                    refusal.path,
                    "",
                ):
                    refusal.times -= 1
                    self._counts["refused"] += 1
                    return refusal
        if denied:
            names = [unquote(target.split("?", 1)[0])]
            copy_source = headers.get("x-amz-copy-source")
            if copy_source:
                names.append(_copy_source_key(copy_source))
            if any(pattern in name for pattern in denied for name in names):
                self._count("denied")
                return "deny"
        # The predicate runs outside the lock: it is the caller's code.
        if match is not None and not match(method, target, headers):
            return None
        with self._lock:
            drop = self._random.random() < self._drop_fraction
            slowdown = self._random.random() < self._slowdown_fraction
            if drop:
                self._counts["drops"] += 1
                return "drop"
            if slowdown:
                self._counts["slowdowns"] += 1
                return "slowdown"
        return None

    def _forward(
        self, method: str, target: str, headers: Message, body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One exchange with the upstream on a fresh connection (moto closes every one)."""
        connection = _UpstreamConnection(
            self._upstream_host, self._upstream_port, timeout=self._upstream_timeout_s
        )
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", self._upstream_netloc)
            for name, value in headers.items():
                if name.lower() not in _NOT_FORWARDED:
                    connection.putheader(name, value)
            if "Content-Length" in headers or "Transfer-Encoding" in headers:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            self._count("forwarded")
            return response.status, response.reason, response.getheaders(), payload
        finally:
            connection.close()


def service_is(*services: str) -> Match:
    """A ``match`` for requests signed for one of ``services`` ("s3", "sqs", "dynamodb", ...).

    With ``AWS_ENDPOINT_URL`` pointing at the proxy every client shares it; the SigV4 credential
    scope (``.../us-east-1/s3/aws4_request``, in the Authorization header or, for a presigned
    URL, in the query) tells the services apart.
    """
    scopes = tuple(f"/{service}/aws4_request" for service in services)

    def match(method: str, target: str, headers: Message) -> bool:
        signed = headers.get("Authorization", "") + unquote(target)
        return any(scope in signed for scope in scopes)

    return match


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a fraction is between 0 and 1, not {value!r}")
    return float(value)
