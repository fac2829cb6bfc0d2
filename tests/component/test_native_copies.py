"""Small objects' CopyObject through the CRT (copier.native_copies), against a moto server on
loopback (the CRT does its own HTTP, which in-process moto does not see) and a stub endpoint
that answers what moto will not: server errors and silence.

Which side sent a request is told by botocore's ``before-send`` event, which botocore emits only
for requests it sends itself.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from copier.native_copies import NativeCopies
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.cli.local.server import free_port

SOURCE, DESTINATION = "source", "destination"


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


def attached(s3: Any, native: NativeCopies) -> Any:
    native.attach(s3, Credentials("testing", "testing"))
    return s3


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
    """The waits of the CRT path before it hands a request to botocore, on a fake clock."""
    return []


@pytest.fixture
def native(waits: list[float]) -> NativeCopies:
    return NativeCopies(sleep=waits.append, random=lambda: 0.5)


def test_a_copy_through_the_crt_answers_as_botocore_would(
    moto_endpoint: str, native: NativeCopies
) -> None:
    # GIVEN a source object whose key needs escaping, and an attached client
    s3 = attached(client(moto_endpoint), native)
    key = "a folder/ü+%=&?.txt"
    etag = s3.put_object(Bucket=SOURCE, Key=key, Body=b"x" * 100)["ETag"]
    sent = botocore_sends(s3)

    # WHEN the object is copied through the CRT under its listed ETag
    answer = native.copy_object(
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


def test_a_failed_condition_is_botocores_error_from_one_request(
    moto_endpoint: str, native: NativeCopies
) -> None:
    # GIVEN a source object whose key the destination holds already
    s3 = attached(client(moto_endpoint), native)
    s3.put_object(Bucket=SOURCE, Key="changed", Body=b"new")
    s3.put_object(Bucket=DESTINATION, Key="changed", Body=b"theirs")
    sent = botocore_sends(s3)

    # WHEN it is copied on the condition that nothing is there, or to a bucket that does not exist
    with pytest.raises(ClientError) as failed:
        native.copy_object(
            s3,
            Bucket=DESTINATION,
            Key="changed",
            CopySource={"Bucket": SOURCE, "Key": "changed"},
            IfNoneMatch="*",
        )
    with pytest.raises(ClientError) as missing:
        native.copy_object(
            s3, Bucket="no-such-bucket", Key="k", CopySource={"Bucket": SOURCE, "Key": "changed"}
        )

    # THEN each raises what botocore raises, settled by the CRT's one request
    assert failed.value.response["Error"]["Code"] == "PreconditionFailed"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    assert sent == []
    assert s3.get_object(Bucket=DESTINATION, Key="changed")["Body"].read() == b"theirs"


def test_calls_not_made_through_native_copies_stay_botocores(
    moto_endpoint: str, native: NativeCopies
) -> None:
    # GIVEN an attached client
    s3 = attached(client(moto_endpoint), native)
    s3.put_object(Bucket=SOURCE, Key="plain", Body=b"p")
    sent = botocore_sends(s3)

    # WHEN it copies by itself
    s3.copy_object(Bucket=DESTINATION, Key="plain", CopySource={"Bucket": SOURCE, "Key": "plain"})

    # THEN botocore sent it
    assert len(sent) == 1


class _NoCrtClient(NativeCopies):
    """A CRT that cannot make a client, as with a CA bundle it cannot read."""

    made: int = 0

    def crt_client(self, *args: Any, **kwargs: Any) -> Any:
        self.made += 1
        raise RuntimeError("1033 (AWS_IO_TLS_CTX_ERROR): Failed to create tls context")


def test_a_crt_that_cannot_make_a_client_leaves_every_copy_to_botocore(
    moto_endpoint: str,
) -> None:
    # GIVEN a CRT that cannot make its client, and two source objects
    native = _NoCrtClient()
    s3 = attached(client(moto_endpoint), native)
    for key in ("one", "two"):
        s3.put_object(Bucket=SOURCE, Key=f"no-crt/{key}", Body=key.encode())
    sent = botocore_sends(s3)

    # WHEN both are copied through the CRT
    for key in ("one", "two"):
        native.copy_object(
            s3,
            Bucket=DESTINATION,
            Key=f"no-crt/{key}",
            CopySource={"Bucket": SOURCE, "Key": f"no-crt/{key}"},
        )

    # THEN botocore copied both, and the CRT was asked for its client once
    assert len(sent) == 2
    assert s3.get_object(Bucket=DESTINATION, Key="no-crt/two")["Body"].read() == b"two"
    assert native.made == 1


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


def test_a_server_error_is_sent_again_by_botocore_with_its_retries(
    stub_of: Callable[..., _Stub], native: NativeCopies, waits: list[float]
) -> None:
    # GIVEN an endpoint that answers SlowDown to everything, and botocore allowed 2 attempts
    stub = stub_of(lambda _: SLOW_DOWN)
    s3 = attached(client(stub.endpoint, attempts=2), native)
    sent = botocore_sends(s3)

    # WHEN an object is copied through the CRT
    with pytest.raises(ClientError) as failed:
        native.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN the CRT tried once, without retrying, and waited as botocore waits before a retry
    # after a throttle (half of 1 s, the drawn half), then botocore tried twice, its budget
    assert failed.value.response["Error"]["Code"] == "SlowDown"
    assert len(stub.requests) == 3
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
    ],
    ids=["cut-short", "whitespace", "empty", "error-in-200", "slow-down"],
)
def test_an_answer_the_crt_does_not_settle_is_sent_again_by_botocore(
    stub_of: Callable[..., _Stub],
    native: NativeCopies,
    waits: list[float],
    first: tuple[int, bytes],
) -> None:
    # GIVEN an endpoint whose first answer is a server error, or a 200 without the copy's result
    stub = stub_of(lambda index: first if index == 0 else COPIED)
    s3 = attached(client(stub.endpoint), native)

    # WHEN an object is copied through the CRT
    answer = native.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN botocore sent it again after a retry's wait (a throttle's, or a server error's), and
    # its copy is the answer
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == 2
    assert waits == [0.5 if first == SLOW_DOWN else 0.025]


def test_a_request_past_the_deadline_is_sent_again_by_botocore(
    stub_of: Callable[..., _Stub],
) -> None:
    # GIVEN an endpoint that never answers its first request, and a short deadline
    stub = stub_of(lambda index: None if index == 0 else COPIED)
    waits: list[float] = []
    native = NativeCopies(deadline_s=0.5, sleep=waits.append)
    s3 = attached(client(stub.endpoint), native)

    # WHEN an object is copied through the CRT
    answer = native.copy_object(s3, Bucket=DESTINATION, Key="k", CopySource="source/k")

    # THEN after the deadline (a wait already) botocore sent it again, and that copy is the answer
    assert answer["CopyObjectResult"]["ETag"] == '"abc"'
    assert len(stub.requests) == 2
    assert waits == []
