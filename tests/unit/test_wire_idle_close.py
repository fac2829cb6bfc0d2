"""A kept-alive connection its server closed while it was idle is not used again (copier.wire):
the next request goes on a new connection, and is answered."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

from copier.wire import Connections

REQUEST = b"PUT /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _answer_once(sock: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return
        received += chunk
    sock.sendall(OK)


def test_a_connection_closed_while_idle_is_replaced() -> None:
    # GIVEN a server that answers one request per connection, then closes it (as S3 closes
    # connections idle for a while), and says when it has closed the first
    listener = socket.create_server(("127.0.0.1", 0))
    first_closed = threading.Event()
    accepted: list[int] = []

    def serve() -> None:
        for number in range(2):
            sock, _ = listener.accept()
            accepted.append(number)
            with sock:
                _answer_once(sock)
            if number == 0:
                first_closed.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    url = urlsplit(f"http://127.0.0.1:{listener.getsockname()[1]}/bucket/key")
    connections = Connections()

    # WHEN one request is answered, the server closes that connection, and another request
    # is sent
    first = connections.exchange(url, REQUEST, 5.0)
    assert first_closed.wait(5)
    second = connections.exchange(url, REQUEST, 5.0)

    # THEN both are answered, the second on a new connection
    server.join(5)
    listener.close()
    assert (first.status, first.body) == (200, b"ok")
    assert (second.status, second.body) == (200, b"ok")
    assert accepted == [0, 1]
