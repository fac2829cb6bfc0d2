"""``copier.wire`` reads whole HTTP/1.1 answers from scripted servers, or says it has none."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from copier.wire import MAX_BODY_BYTES, Answer, CertificateRefused, Connections, NoAnswer

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


def ask(connections: Connections, server: Server, deadline_s: float = 5.0) -> Answer:
    return connections.exchange(urlsplit(server.url()), REQUEST, deadline_s)


LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Amz-Id:   a b  \r\n\r\nhello"
TRIMMED = Answer(200, [("Content-Length", "5"), ("X-Amz-Id", "a b")], b"hello")
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
WHOLE = {"Content-Length": (LENGTH, TRIMMED), "after interim answers": (INTERIM + LENGTH, TRIMMED)}


@pytest.mark.parametrize(("answer", "expected"), WHOLE.values(), ids=WHOLE.keys())
def test_content_length_answer(serve: Serve, answer: bytes, expected: Answer) -> None:
    # GIVEN a server answering with a Content-Length body, after any 1xx interim answers
    server = serve([Step(answer)])
    # WHEN a request is exchanged
    got = ask(Connections(None), server)
    # THEN the final answer is whole, its headers in order with their values trimmed
    assert got == expected
    # AND the server read the request as sent
    assert server.requests == [(0, REQUEST)]


def test_chunked_answer_keeps_the_connection(serve: Serve) -> None:
    # GIVEN a chunked answer with a chunk extension and a trailer, sent a byte at a time
    chunked = (
        CHUNKED + b"5;name=value\r\nhello\r\n6\r\n world\r\nA\r\n, and more\r\n0\r\nX-T: t\r\n\r\n"
    )
    server = serve([Step(chunked, trickle=True), Step(OK)])
    connections = Connections(None)
    # WHEN two requests are exchanged
    first, second = ask(connections, server), ask(connections, server)
    # THEN the chunks are joined, the trailer consumed, and the connection carries the second
    assert (first.status, first.body) == (200, b"hello world, and more")
    assert (second.status, second.body) == (200, b"ok")
    assert server.on == [0, 0]


CLOSE_DELIMITED = b"200 OK\r\nContent-Type: text/plain\r\n\r\nto the close"
ENDING = {
    "HTTP/1.0 to the close": (Step(b"HTTP/1.0 " + CLOSE_DELIMITED, close=True), b"to the close"),
    "HTTP/1.1 to the close": (Step(b"HTTP/1.1 " + CLOSE_DELIMITED, close=True), b"to the close"),
    "Connection: close": (Step(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")), b"ok"),
    "lowercase close": (Step(OK.replace(b"\r\n\r\n", b"\r\nconnection: Close\r\n\r\n")), b"ok"),
    "HTTP/1.0 with length": (Step(OK.replace(b"HTTP/1.1", b"HTTP/1.0")), b"ok"),
    "bytes past the body": (Step(OK + b"EXTRA"), b"ok"),
}


@pytest.mark.parametrize(("step", "body"), ENDING.values(), ids=ENDING.keys())
def test_an_answer_that_ends_the_connection_sends_the_next_on_a_new_one(
    serve: Serve, step: Step, body: bytes
) -> None:
    # GIVEN an answer after which the connection may not carry another (the framed ones left
    # open by the server, the ones without length ended by its close)
    server = serve([step, Step(OK)])
    connections = Connections(None)
    # WHEN two requests are exchanged
    first, second = ask(connections, server), ask(connections, server)
    # THEN both are answered whole, the second on a new connection
    assert (first.body, second.body) == (body, b"ok")
    assert server.on == [0, 1]


def test_keep_alive_reuses_the_connection(serve: Serve) -> None:
    # GIVEN a server keeping the connection open, with a bodiless 204 among its answers
    no_content = b"HTTP/1.1 204 No Content\r\nX-Amz-Id: 1\r\n\r\n"
    server = serve([Step(OK), Step(no_content), Step(OK)])
    connections = Connections(None)
    # WHEN three requests are exchanged
    answers = [ask(connections, server) for _ in range(3)]
    # THEN all three go on one connection, each with its own answer
    assert [(a.status, a.body) for a in answers] == [(200, b"ok"), (204, b""), (200, b"ok")]
    assert server.on == [0, 0, 0]
    assert server.connections == 1


def test_each_thread_and_endpoint_has_its_own_connection(serve: Serve) -> None:
    # GIVEN two servers and one Connections shared by two threads
    one, two = serve([Step(OK)] * 3), serve([Step(OK)])
    connections = Connections(None)
    ask(connections, one)
    # WHEN another thread asks the same server, then this thread asks both
    other = threading.Thread(target=ask, args=(connections, one))
    other.start()
    other.join()
    ask(connections, two)
    ask(connections, one)
    # THEN the other thread had its own connection, and this thread's to the first was kept
    assert one.on == [0, 1, 0]
    assert two.on == [0]


HALF = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"
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


BIG = MAX_BODY_BYTES + 1
MALFORMED = {
    "not HTTP": b"garbage\r\n\r\n",
    "HTTP/2": b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
    "no status code": b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
    "two-digit status": b"HTTP/1.1 20\r\nContent-Length: 2\r\n\r\nok",
    "four-digit status": b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    "header without colon": b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
    "header without name": b"HTTP/1.1 200 OK\r\n: no name\r\nContent-Length: 0\r\n\r\n",
    "length not a number": b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "length over the maximum": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG,
    "chunk size not hex": CHUNKED + b"zz\r\n",
    "negative chunk size": CHUNKED + b"-7\r\nwhatever\r\n0\r\n\r\n",
    "chunk without line end": CHUNKED + b"5\r\nhelloXX0\r\n\r\n",
    "chunk over the maximum": CHUNKED + b"%x\r\n" % BIG,
    "close-delimited body over the maximum": b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (BIG + 1),
    "head over the maximum": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * (70 * 1024),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_or_oversized_answer_is_no_answer(serve: Serve, answer: bytes) -> None:
    # GIVEN a server sending a bad answer, then holding the connection open
    server = serve([Step(answer, hang=True), Step(OK)])
    connections = Connections(None)
    # WHEN a request is exchanged
    with pytest.raises(NoAnswer) as raised:
        ask(connections, server)
    # THEN there is no answer, known at once rather than at the deadline
    assert not raised.value.timed_out
    assert not isinstance(raised.value, CertificateRefused)
    # AND the next request is answered on a new connection
    assert ask(connections, server).body == b"ok"
    assert server.on == [0, 1]


def test_a_refused_connection_is_no_answer() -> None:
    # GIVEN a port that is bound but not listening
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = urlsplit(f"http://127.0.0.1:{unused.getsockname()[1]}/bucket/key")
        # WHEN a request is exchanged with it
        with pytest.raises(NoAnswer) as raised:
            Connections(None).exchange(url, REQUEST, 5.0)
    # THEN there is no answer, and not for lack of time
    assert not raised.value.timed_out


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost; its key beside it in key.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s3migrator test")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    built = (
        x509.CertificateBuilder(name, name, key.public_key(), x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (folder / "cert.pem").write_bytes(built.public_bytes(Encoding.PEM))
    return folder / "cert.pem"


def tls_server(serve: Serve, certificate: Path, steps: list[Step]) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, certificate.with_name("key.pem"))
    return serve(steps, tls=context)


def test_tls_answer_from_a_trusted_certificate(serve: Serve, certificate: Path) -> None:
    # GIVEN a TLS server whose certificate the client trusts
    server = tls_server(serve, certificate, [Step(OK), Step(OK)])
    connections = Connections(ssl.create_default_context(cafile=certificate))
    url = urlsplit(server.url("https"))
    # WHEN two requests are exchanged over https
    answers = [connections.exchange(url, REQUEST, 5.0) for _ in range(2)]
    # THEN both are answered, on one kept connection
    assert [a.body for a in answers] == [b"ok", b"ok"]
    assert server.requests == [(0, REQUEST), (0, REQUEST)]


@pytest.mark.parametrize("system_trust", [True, False], ids=["system trust", "no TLS context"])
def test_an_untrusted_certificate_is_refused(
    serve: Serve, certificate: Path, system_trust: bool
) -> None:
    # GIVEN a TLS server whose self-signed certificate the client does not trust
    server = tls_server(serve, certificate, [Step(OK)])
    connections = Connections(ssl.create_default_context() if system_trust else None)
    # WHEN a request is exchanged over https
    with pytest.raises(CertificateRefused) as raised:
        connections.exchange(urlsplit(server.url("https")), REQUEST, 5.0)
    # THEN the certificate is refused, and no request was sent
    assert not raised.value.timed_out
    assert server.requests == []


def test_a_tls_handshake_past_the_deadline_times_out(serve: Serve) -> None:
    # GIVEN a server that accepts the connection but never answers the TLS handshake
    server = serve([])
    connections = Connections(ssl.create_default_context())
    started = time.monotonic()
    # WHEN a request is exchanged over https with a 0.3 s deadline
    with pytest.raises(NoAnswer) as raised:
        connections.exchange(urlsplit(server.url("https")), REQUEST, 0.3)
    # THEN it gives up at the deadline, saying so
    assert time.monotonic() - started < 2.0
    assert raised.value.timed_out
