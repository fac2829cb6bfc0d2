"""Small objects' CopyObject sent directly (copier.direct_copies), against a moto server on
loopback (the direct path does its own HTTP, which in-process moto does not see) and a stub
endpoint that answers what moto will not: server errors, redirects and silence.

Which side sent a request is told by botocore's ``before-send`` event, which botocore emits only
for requests it sends itself. The first two copies of a shape are botocore's, watched; the
direct path sends the later ones.
"""

from __future__ import annotations

import http.server
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from copier.direct_copies import DirectCopies
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.cli.local.server import free_port

SOURCE, DESTINATION = "source", "destination"
LEARNT = 2  # copies of a shape botocore sends before the direct path takes it


def client(endpoint: str, attempts: int = 2, read_timeout_s: float = 60) -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            read_timeout=read_timeout_s,
        ),
    )


def botocore_sends(s3: Any) -> list[str]:
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    return sent


def attached(s3: Any, direct: DirectCopies) -> Any:
    direct.attach(s3, Credentials("testing", "testing"))
    return s3


def learn(direct: DirectCopies, s3: Any, **params: Any) -> None:
    """Copy two new objects with ``params``: the shape's template is learnt."""
    for _ in range(LEARNT):
        key = f"learnt-{next(_LEARNT_KEYS)}"
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"l")
        direct.copy_object(
            s3, Key=f"copies/{key}", CopySource={"Bucket": SOURCE, "Key": key}, **params
        )


_LEARNT_KEYS = itertools.count()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    patch_moto()  # S3's request conditions (CopySourceIfMatch, If-None-Match)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = client(endpoint)
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=DESTINATION)
    yield endpoint
    server.stop()


@pytest.fixture
def waits() -> list[float]:
    """The waits of the direct path before it hands a request to botocore, on a fake clock."""
    return []


@pytest.fixture
def direct(waits: list[float]) -> DirectCopies:
    return DirectCopies(sleep=waits.append, random=lambda: 0.5)


def test_a_direct_copy_answers_as_botocore_would(moto_endpoint: str, direct: DirectCopies) -> None:
    # GIVEN a source object whose key needs escaping, and a client whose shape is learnt
    s3 = attached(client(moto_endpoint), direct)
    learn(direct, s3, Bucket=DESTINATION)
    key = "a folder/ü+%=&?.txt"
    etag = s3.put_object(Bucket=SOURCE, Key=key, Body=b"x" * 100)["ETag"]
    sent = botocore_sends(s3)

    # WHEN the object is copied directly under its listed ETag
    answer = direct.copy_object(
        s3,
        Bucket=DESTINATION,
        Key=f"copied/{key}",
        CopySource={"Bucket": SOURCE, "Key": key},
        CopySourceIfMatch=etag,
    )

    # THEN the answer is botocore's shape, botocore sent nothing, and the copy is there
    assert answer["CopyObjectResult"]["ETag"] == etag
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sent == []
    copied = s3.get_object(Bucket=DESTINATION, Key=f"copied/{key}")
    assert copied["Body"].read() == b"x" * 100


def test_a_shape_is_botocores_until_two_copies_agree_on_it(
    moto_endpoint: str, direct: DirectCopies
) -> None:
    # GIVEN an attached client, and three objects
    s3 = attached(client(moto_endpoint), direct)
    for n in range(3):
        s3.put_object(Bucket=SOURCE, Key=f"shape/{n}", Body=b"s")
    sent = botocore_sends(s3)

    # WHEN they are copied one after the other, then one with another storage class
    for n in range(3):
        direct.copy_object(
            s3, Bucket=DESTINATION, Key=f"shape/{n}", CopySource=f"{SOURCE}/shape/{n}"
        )
    direct.copy_object(
        s3,
        Bucket=DESTINATION,
        Key="shape/other",
        CopySource=f"{SOURCE}/shape/0",
        StorageClass="STANDARD_IA",
    )

    # THEN botocore sent the first two and the one of a new shape; the third went directly
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["0", "1", "other"]
    head = s3.head_object(Bucket=DESTINATION, Key="shape/other")
    assert head["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket=DESTINATION, Key="shape/2")["Body"].read() == b"s"


def test_a_failed_condition_is_botocores_error_from_one_request(
    moto_endpoint: str, direct: DirectCopies
) -> None:
    # GIVEN a source object whose key the destination holds already, and learnt shapes
    s3 = attached(client(moto_endpoint), direct)
    learn(direct, s3, Bucket=DESTINATION, IfNoneMatch="*")
    learn(direct, s3, Bucket=SOURCE)
    s3.put_object(Bucket=SOURCE, Key="changed", Body=b"new")
    s3.put_object(Bucket=DESTINATION, Key="changed", Body=b"theirs")
    sent = botocore_sends(s3)

    # WHEN it is copied on the condition that nothing is there, or from a key that is not there
    with pytest.raises(ClientError) as failed:
        direct.copy_object(
            s3,
            Bucket=DESTINATION,
            Key="changed",
            CopySource={"Bucket": SOURCE, "Key": "changed"},
            IfNoneMatch="*",
        )
    with pytest.raises(s3.exceptions.NoSuchKey) as missing:
        direct.copy_object(
            s3, Bucket=SOURCE, Key="k", CopySource={"Bucket": SOURCE, "Key": "no-such-key"}
        )

    # THEN each raises what botocore raises, settled by one direct request
    assert failed.value.response["Error"]["Code"] == "PreconditionFailed"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert sent == []
    assert s3.get_object(Bucket=DESTINATION, Key="changed")["Body"].read() == b"theirs"


def test_calls_not_made_through_direct_copies_stay_botocores(
    moto_endpoint: str, direct: DirectCopies
) -> None:
    # GIVEN an attached client whose shape is learnt
    s3 = attached(client(moto_endpoint), direct)
    learn(direct, s3, Bucket=DESTINATION)
    s3.put_object(Bucket=SOURCE, Key="plain", Body=b"p")
    sent = botocore_sends(s3)

    # WHEN it copies by itself
    s3.copy_object(Bucket=DESTINATION, Key="plain", CopySource={"Bucket": SOURCE, "Key": "plain"})

    # THEN botocore sent it
    assert len(sent) == 1


def test_without_tls_an_https_endpoint_is_botocores() -> None:
    # GIVEN a direct path with no TLS context (a CA bundle it cannot read), a shape learnt on
    # an HTTPS endpoint whose name does not resolve
    direct = DirectCopies(tls=lambda: None)
    s3 = attached(client("https://s3.invalid", attempts=1), direct)
    refused = botocore_sends(s3)

    # WHEN a copy goes there
    with pytest.raises(Exception):  # noqa: B017 - botocore's own connection error
        direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN botocore sent it (the shape is not learnt from a failed copy)
    assert len(refused) == 1


class _Stub(http.server.ThreadingHTTPServer):
    """An endpoint that answers each request as ``answer(index)`` says and counts them."""

    def __init__(self, answer: Callable[[int], tuple[int, bytes] | None]) -> None:
        self.answer = answer
        self.requests: list[str] = []
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _StubHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Stub

    def do_PUT(self) -> None:
        self.server.requests.append(self.path)
        answer = self.server.answer(len(self.server.requests) - 1)
        if answer is None:  # silence, until the test ends
            self.server.release.wait(30)
            self.close_connection = True
            return
        status, body = answer
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def stub_of() -> Iterator[Callable[[Callable[[int], tuple[int, bytes] | None]], _Stub]]:
    made: list[_Stub] = []

    def make(answer: Callable[[int], tuple[int, bytes] | None]) -> _Stub:
        stub = _Stub(answer)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        made.append(stub)
        return stub

    yield make
    for stub in made:
        stub.release.set()
        stub.shutdown()
        stub.server_close()


SLOW_DOWN = (503, b"<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>")
COPIED = (
    200,
    b"<CopyObjectResult><ETag>&quot;abc&quot;</ETag>"
    b"<LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>",
)


REDIRECT = (
    301,
    b"<Error><Code>PermanentRedirect</Code><Message>elsewhere</Message></Error>",
)


def on_stub(stub: _Stub, direct: DirectCopies, attempts: int = 2) -> Any:
    """A client of the stub whose shape (``Bucket=DESTINATION``) is learnt: the stub's first
    ``LEARNT`` requests are botocore's, and the next one is the direct path's."""
    s3 = attached(client(stub.endpoint, attempts=attempts), direct)
    for n in range(LEARNT):
        direct.copy_object(s3, Bucket=DESTINATION, Key=f"learnt-{n}", CopySource=f"source/{n}")
    return s3


def after_learning(then: Callable[[int], tuple[int, bytes] | None]) -> Callable[[int], Any]:
    return lambda index: COPIED if index < LEARNT else then(index - LEARNT)


def test_a_server_error_is_sent_again_by_botocore_with_its_retries(
    stub_of: Callable[..., _Stub], direct: DirectCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint that answers SlowDown to everything once the shape is learnt, and
    # botocore allowed 2 attempts
    stub = stub_of(after_learning(lambda _: SLOW_DOWN))
    s3 = on_stub(stub, direct, attempts=2)
    sent = botocore_sends(s3)

    # WHEN an object is copied directly
    with pytest.raises(ClientError) as failed:
        direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN the direct path tried once, without retrying, and waited as botocore waits before a
    # retry after a throttle (half of 1 s, the drawn half), then botocore tried twice, its budget
    assert failed.value.response["Error"]["Code"] == "SlowDown"
    assert len(stub.requests) == LEARNT + 3
    assert len(sent) == 2
    assert waits == [0.5]


@pytest.mark.parametrize(
    "first",
    [
        (200, b"<CopyObjectResult><ETag>&quot;ab"),
        (200, b"   \n  "),
        (200, b""),
        (200, b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"),
        SLOW_DOWN,
        (403, b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"),
    ],
    ids=["cut-short", "whitespace", "empty", "error-in-200", "slow-down", "denied"],
)
def test_an_answer_the_direct_path_does_not_settle_is_sent_again_by_botocore(
    stub_of: Callable[..., _Stub],
    direct: DirectCopies,
    waits: list[float],
    first: tuple[int, bytes],
) -> None:
    # GIVEN an endpoint whose first direct answer is an error, or a 200 without the result
    stub = stub_of(after_learning(lambda index: first if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN an object is copied directly
    answer = direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN botocore sent it again after a retry's wait (a throttle's, or a server error's), and
    # its copy is the answer
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == LEARNT + 2
    assert len(sent) == 1
    assert waits == [0.5 if first == SLOW_DOWN else 0.025]


def test_a_redirect_leaves_the_shape_to_botocore_from_then_on(
    stub_of: Callable[..., _Stub], direct: DirectCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint that redirects the first direct copy
    stub = stub_of(after_learning(lambda index: REDIRECT if index == 0 else COPIED))
    s3 = on_stub(stub, direct)
    sent = botocore_sends(s3)

    # WHEN two objects are copied
    for key in ("k1", "k2"):
        direct.copy_object(s3, Bucket=DESTINATION, Key=key, CopySource=f"source/{key}")

    # THEN botocore sent the redirected one at once and the next one too
    assert [url.rsplit("/", 1)[-1] for url in sent] == ["k1", "k2"]
    assert len(stub.requests) == LEARNT + 3
    assert waits == []


def test_a_request_past_the_deadline_is_sent_again_by_botocore(
    stub_of: Callable[..., _Stub],
) -> None:
    # GIVEN an endpoint that never answers the first direct request, and a short deadline
    stub = stub_of(after_learning(lambda index: None if index == 0 else COPIED))
    waits: list[float] = []
    direct = DirectCopies(deadline_s=0.5, sleep=waits.append)
    s3 = on_stub(stub, direct)

    # WHEN an object is copied directly
    answer = direct.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN after the deadline (a wait already) botocore sent it again, and that copy is the answer
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == LEARNT + 2
    assert waits == []
