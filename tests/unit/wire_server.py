"""A scripted HTTP server for ``copier.wire``'s tests: it plays each request it reads the
``Step`` that comes next, on whichever connection."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from copier.wire import Answer, Connections

REQUEST = b"PUT /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass
class Step:
    """What the server does with the next request it reads, on whichever connection."""

    answer: bytes = b""
    close: bool = False  # close the connection once the answer is sent
    hang: bool = False  # send the answer, then neither read nor close until the server stops
    trickle: bool = False  # send the answer a byte at a time
    gap_s: float = 0.0  # between the bytes of a trickled answer


@dataclass
class Server:
    """A TCP (or TLS) server on 127.0.0.1 playing ``steps`` to the requests it reads."""

    steps: list[Step]
    tls: ssl.SSLContext | None = None
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, request)
    connections: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: list[socket.socket] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._start(self._accept)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/bucket/key"

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            sock, _ = self._listener.accept()
            if self._stop.is_set():
                sock.close()
                return
            with self._lock:
                number, self.connections = self.connections, self.connections + 1
                self._open.append(sock)
            self._start(self._serve, sock, number)

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._open.append(sock)
            self._play(sock, number)
        except (OSError, ValueError):
            pass  # the client went away, or refused the certificate
        finally:
            sock.close()

    def _play(self, sock: socket.socket, number: int) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            request, _, buffer = buffer.partition(b"\r\n\r\n")
            with self._lock:
                self.requests.append((number, request + b"\r\n\r\n"))
                step = self.steps.pop(0)
            if step.trickle:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for byte in step.answer:
                    sock.sendall(bytes([byte]))
                    time.sleep(step.gap_s)
            else:
                sock.sendall(step.answer)
            if step.hang:
                self._stop.wait()
            if step.close or step.hang:
                return

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port)).close()  # wakes accept()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError, ValueError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    @property
    def on(self) -> list[int]:
        """The connection each request came on, in order."""
        return [number for number, _ in self.requests]


Serve = Callable[..., Server]


def ask(connections: Connections, server: Server, deadline_s: float = 5.0) -> Answer:
    return connections.exchange(urlsplit(server.url()), REQUEST, deadline_s)


HALF = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"
