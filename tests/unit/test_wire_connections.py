"""Which connections a thread keeps (copier.wire): not one its server closed while it was idle,
nor more than a few endpoints' at once; and an answer whose status is not one is none."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import pytest
from wire_server import OK, REQUEST

from copier.wire import MAX_ENDPOINTS_PER_THREAD, Connections, NoAnswer


def _answer_once(sock: socket.socket, answer: bytes = OK) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return
        received += chunk
    sock.sendall(answer)


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


def _keep_answering(listener: socket.socket, closed: threading.Event) -> None:
    """Answers every request on the one connection it accepts; ``closed`` when the client
    closes it."""
    sock, _ = listener.accept()
    with sock:
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed.set()
                return
            received += chunk
            while b"\r\n\r\n" in received:
                _, _, received = received.partition(b"\r\n\r\n")
                sock.sendall(OK)


def test_a_thread_keeps_the_connections_of_the_endpoints_it_used_last() -> None:
    # GIVEN one more endpoint than a thread keeps connections to
    count = MAX_ENDPOINTS_PER_THREAD + 1
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    closed = [threading.Event() for _ in range(count)]
    for listener, event in zip(listeners, closed, strict=True):
        threading.Thread(target=_keep_answering, args=(listener, event), daemon=True).start()
    urls = [urlsplit(f"http://127.0.0.1:{one.getsockname()[1]}/b/k") for one in listeners]
    connections = Connections()

    # WHEN the first endpoint is used, then the others, then the second again
    for url in [*urls, urls[1]]:
        assert connections.exchange(url, REQUEST, 5.0).body == b"ok"

    # THEN the first endpoint's connection was closed, and no other
    assert closed[0].wait(5)
    assert not any(event.is_set() for event in closed[1:])
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize("status", [b"099", b"600", b"000"])
def test_a_status_out_of_http_range_is_no_answer(status: bytes) -> None:
    # GIVEN a server whose answer's status is not an HTTP status
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        sock, _ = listener.accept()
        with sock:
            _answer_once(sock, b"HTTP/1.1 " + status + b" X\r\nContent-Length: 2\r\n\r\nok")

    threading.Thread(target=serve, daemon=True).start()
    url = urlsplit(f"http://127.0.0.1:{listener.getsockname()[1]}/bucket/key")

    # WHEN a request is sent
    # THEN there is no answer
    with pytest.raises(NoAnswer):
        Connections().exchange(url, REQUEST, 5.0)
    listener.close()
