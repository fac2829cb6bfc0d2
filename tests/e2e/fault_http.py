"""The fault proxy's HTTP plumbing: the server, the request handler, the upstream connection.

Requests are read whole, then ``FaultProxy._decide`` picks a fault or ``FaultProxy._forward``
relays them; see ``faults.py`` for what the proxy does.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.faults import FaultProxy

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
        if fault is not None and not isinstance(fault, str):  # a Refusal
            self._reply(fault.status, fault.code, _XML_HEADERS, fault.body)
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
