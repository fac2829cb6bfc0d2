"""One HTTP/1.1 exchange (a request without body, its answer) on a kept-alive connection of
the calling thread's own, for ``copier.direct_copies``.

Why not urllib3 or http.client: their per-request Python (header objects, the email parser,
pool bookkeeping) is most of a small copy's CPU. This reads an answer's framing and nothing
else: status line, header lines, a body by Content-Length, chunks, or up to the close. Anything
it does not know for whole (a connection error, a closed connection, a timeout, a malformed or
oversized answer) is ``NoAnswer``, and the connection is dropped: the caller then leaves the
request to botocore.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import SplitResult

MAX_HEAD_BYTES = 64 * 1024
# A CopyObject answer is a few hundred bytes; anything this large is not one.
MAX_BODY_BYTES = 1024 * 1024
_READ = 64 * 1024
# Connections a thread keeps open, to the endpoints it used last: with virtual-hosted
# addressing every bucket is an endpoint of its own, and a job's copies go to one or two.
MAX_ENDPOINTS_PER_THREAD = 4
_PORTS = {"http": 80, "https": 443}
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class NoAnswer(Exception):  # noqa: N818 - an outcome the caller hands over
    """No whole answer; ``timed_out`` when the deadline passed first."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class CertificateRefused(NoAnswer):
    """The endpoint's certificate is not one this process trusts (botocore may trust it)."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float = 0.0
    buffer: bytes = b""
    # The longest wait for the server's next bytes (botocore's read_timeout), within the deadline.
    read_s: float | None = None

    def exchange(
        self, request: bytes, deadline: float, read_s: float | None
    ) -> tuple[Answer, bool]:
        """Send ``request``; the answer, and whether the connection may carry another."""
        self.deadline, self.read_s = deadline, read_s
        self._timeout()
        self.sock.sendall(request)
        while True:
            version, status, headers = self._head()
            if not 100 <= status < 200:
                break
        names = {name.lower(): value for name, value in headers}
        reusable = version == "HTTP/1.1" and names.get("connection", "").lower() != "close"
        if "chunked" in names.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in names:
            length = int(names["content-length"])
            if not 0 <= length <= MAX_BODY_BYTES:
                raise NoAnswer(f"a body of {length} bytes")
            body = self._take(length)
        elif status in (204, 304):
            body = b""
        else:
            body, reusable = self._to_close(), False
        return Answer(status, headers, body), reusable

    def _timeout(self) -> None:
        """The next send or read waits up to the read timeout, within the deadline (TimeoutError
        once it has passed, an answer missed as a timed-out read is)."""
        self.sock.settimeout(_wait_s(self.deadline, self.read_s))

    def _recv(self) -> bytes:
        """What the server sent next, within the deadline and the read timeout (empty: it
        closed the connection)."""
        self._timeout()
        try:
            return self.sock.recv(_READ)
        except TimeoutError as exc:
            raise NoAnswer("the deadline or the read timeout passed", timed_out=True) from exc

    def _more(self) -> bytes:
        chunk = self._recv()
        if not chunk:
            raise NoAnswer("the connection closed mid-answer")
        return chunk

    def _line(self, limit: int = MAX_HEAD_BYTES) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > limit:
                raise NoAnswer("an answer line too long")
            self.buffer += self._more()
        line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        return line

    def _take(self, length: int) -> bytes:
        while len(self.buffer) < length:
            self.buffer += self._more()
        taken, self.buffer = self.buffer[:length], self.buffer[length:]
        return taken

    def _head(self) -> tuple[str, int, list[tuple[str, str]]]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise NoAnswer("an answer head too long")
            self.buffer += self._more()
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest.partition(" ")[0]
        valid = len(code) == 3 and code.isdigit() and 100 <= int(code) <= 599
        if version not in ("HTTP/1.1", "HTTP/1.0") or not valid:
            raise NoAnswer(f"not an HTTP answer: {status_line[:40]!r}")
        headers = []
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise NoAnswer(f"a malformed header line: {line[:40]!r}")
            headers.append((name, value.strip()))
        return version, int(code), headers

    def _chunked(self) -> bytes:
        body = b""
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise NoAnswer("a malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                while self._line():  # trailer lines, up to the empty one
                    pass
                return body
            if len(body) + size > MAX_BODY_BYTES:
                raise NoAnswer("a chunked body too large")
            body += self._take(size)
            if self._take(2) != b"\r\n":
                raise NoAnswer("a chunk not followed by its line end")

    def _to_close(self) -> bytes:
        while True:
            if len(self.buffer) > MAX_BODY_BYTES:
                raise NoAnswer("a body too large")
            chunk = self._recv()
            if not chunk:
                body, self.buffer = self.buffer, b""
                return body
            self.buffer += chunk


def _wait_s(deadline: float, limit_s: float | None) -> float:
    """How long the next step may wait: up to ``limit_s``, and never past the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left if limit_s is None else min(left, limit_s)


def _open(host: str, port: int, deadline: float, connect_s: float | None) -> socket.socket:
    """``socket.create_connection``, each address tried within what is left of the deadline."""
    failure: OSError = OSError(f"no address for {host}")
    for family, kind, protocol, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(_wait_s(deadline, connect_s))
            sock.connect(address)
            return sock
        except OSError as exc:  # TimeoutError included: the next address, if time is left
            sock.close()
            failure = exc
    raise failure


def _closed_meanwhile(sock: socket.socket) -> bool:
    """Whether a kept-alive connection was closed (or sent something) while it was idle: its
    server closes idle connections after a while (S3 after some seconds), and a request sent
    on it would meet the close, with no answer."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


@dataclass
class Connections:
    """Each thread's kept-alive connections, one per endpoint (scheme, host, port)."""

    tls: ssl.SSLContext | None = None
    _local: threading.local = field(default_factory=threading.local)

    def exchange(
        self,
        url: SplitResult,
        request: bytes,
        deadline_s: float,
        *,
        connect_s: float | None = None,
        read_s: float | None = None,
    ) -> Answer:
        """Send ``request`` to ``url``'s endpoint and read its answer within ``deadline_s``;
        as botocore's client would, give up connecting after ``connect_s`` and waiting for the
        server's next bytes after ``read_s``."""
        deadline = time.monotonic() + deadline_s
        mine: dict[tuple[str, str], _Connection] = self._local.__dict__.setdefault("open", {})
        endpoint = (url.scheme, url.netloc)
        connection = mine.pop(endpoint, None)
        if connection is not None and _closed_meanwhile(connection.sock):
            self._close(connection)
            connection = None
        try:
            if connection is None:
                connection = _Connection(self._connect(url, deadline, connect_s))
            answer, reusable = connection.exchange(request, deadline, read_s)
        except NoAnswer:
            self._close(connection)
            raise
        except ssl.SSLCertVerificationError as exc:
            self._close(connection)
            raise CertificateRefused(str(exc)) from exc
        except TimeoutError as exc:  # connecting, the TLS handshake, or no time left to wait
            self._close(connection)
            raise NoAnswer("the deadline passed", timed_out=True) from exc
        except (OSError, ValueError) as exc:  # refused, reset, unreachable; a bad number
            self._close(connection)
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if reusable and not connection.buffer:
            mine[endpoint] = connection  # the most recently used last
            while len(mine) > MAX_ENDPOINTS_PER_THREAD:
                self._close(mine.pop(next(iter(mine))))
        else:
            self._close(connection)
        return answer

    def _connect(self, url: SplitResult, deadline: float, connect_s: float | None) -> socket.socket:
        """A connection, its TLS handshake done: each step (each address tried, then the
        handshake) within ``connect_s`` as botocore's, and all of them within the deadline."""
        host = url.hostname or ""
        sock = _open(host, url.port or _PORTS[url.scheme], deadline, connect_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if url.scheme != "https":
            return sock
        if self.tls is None:
            sock.close()
            raise CertificateRefused("no TLS context")
        try:
            sock.settimeout(_wait_s(deadline, connect_s))
            return self.tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _close(connection: _Connection | None) -> None:
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.sock.close()
