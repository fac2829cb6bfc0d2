"""``copier.wire`` reads whole HTTP/1.1 answers from scripted servers, or says it has none."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from wire_server import CHUNKED, OK, REQUEST, Serve, Server, Step, ask

from copier.wire import MAX_BODY_BYTES, Answer, CertificateRefused, Connections, NoAnswer

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
