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
import http.client
import random
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

#: ``match(method, target, headers) -> bool``: ``target`` is the raw request target (path and
#: query exactly as received, still percent-encoded); ``headers`` look-ups are case-insensitive.
Match = Callable[[str, str, Message], bool]

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>"
)
ACCESS_DENIED_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>fault</RequestId></Error>"
)
_XML_HEADERS = [("Content-Type", "application/xml"), ("x-amz-request-id", "fault")]

# Connection-level headers that describe one hop, not the message: never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Not forwarded upstream: Host is the upstream's, Content-Length is recomputed (the body may have
# arrived chunked) and Expect was already answered with 100 Continue by the proxy.
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "expect"}
# Responses that never carry a body, whatever Content-Length says (HEAD is handled by method).
_NO_BODY_STATUSES = frozenset({204, 304})


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
    upstream_errors: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # server_close() must not wait for handler threads blocked on idle keep-alive connections;
    # FaultProxy.stop() closes those connections itself.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-exchange, or a connection closed by stop(), is not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _UpstreamConnection(http.client.HTTPConnection):
    def _encode_request(self, request: str) -> bytes:
        # The request target is relayed byte for byte; http.client would insist on ASCII.
        return request.encode("iso-8859-1")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        proxy = self.server.proxy
        # self.path has a leading "//" collapsed by http.server (gh-87389); the request line
        # holds the target exactly as the client sent it.
        target = self.requestline.split()[1]
        body = self._read_body()
        if body is None:
            return
        fault = proxy._decide(self.command, target, self.headers)
        if fault == "drop":
            # Everything was read, nothing is answered: the client sees the connection closed
            # before any response.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slowdown":
            self._reply(503, "Slow Down", _XML_HEADERS, SLOWDOWN_BODY)
            return
        if fault == "deny":
            self._reply(403, "Forbidden", _XML_HEADERS, ACCESS_DENIED_BODY)
            return
        try:
            status, reason, headers, payload = proxy._forward(
                self.command, target, self.headers, body
            )
        except (OSError, http.client.HTTPException) as error:
            proxy._count("upstream_errors")
            message = f"fault proxy: upstream {proxy.upstream} failed: {error!r}".encode()
            self._reply(502, "Bad Gateway", [("Content-Type", "text/plain")], message)
            return
        self._reply(status, reason, headers, payload, upstream=True)

    def _read_body(self) -> bytes | None:
        """The request body, de-chunked if sent chunked; None if the client sent garbage."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in encoding:
            parts: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.send_error(400, "bad chunk size")
                    return None
                if size == 0:
                    # Skip trailer fields up to the blank line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        return self.rfile.read(size) if size > 0 else b""

    def _reply(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        upstream: bool = False,
    ) -> None:
        """Send one response in a single write, with Content-Length and without a HEAD body."""
        no_body = self.command == "HEAD" or status in _NO_BODY_STATUSES or status < 200
        # A relayed HEAD (or 204/304) keeps the upstream's Content-Length: it describes the
        # object, not this empty message. Everything else gets the length of what is sent.
        keep_length = upstream and no_body
        lines = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or (lowered == "content-length" and not keep_length):
                continue
            lines.append(f"{name}: {value}")
        if not keep_length:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")
        self.wfile.write(head if no_body else head + body)


# http.server dispatches on do_<METHOD>; every method is relayed the same way.
for _method in ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"):
    setattr(_Handler, f"do_{_method}", _Handler._handle)


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

    def _decide(self, method: str, target: str, headers: Message) -> str | None:
        """Which fault, if any, this request gets; counts it."""
        with self._lock:
            self._counts["requests"] += 1
            denied = list(self._denied)
            match = self._match
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
