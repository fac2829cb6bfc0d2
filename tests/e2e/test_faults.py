"""The fault-injection proxy itself: real boto3 clients through the proxy to a real moto server."""

from __future__ import annotations

import http.client
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from s3migrator.cli.local.server import MotoServer
from tests.e2e.faults import FaultCounters, FaultProxy, service_is

pytestmark = pytest.mark.e2e

MiB = 1024**2
SPECIAL_KEYS = [
    "a b+c%2Fd?#&/日本/ x ",
    "dir//file/",
    "trailing/",
    "/leading-slash",
    "a/./b/../c",
    "~!*'()=;:@$,[]{}",
]
_bucket_numbers = itertools.count()


def client(endpoint: str, *, retries: Any = None, pool: int = 10) -> Any:
    """An S3 client; ``retries`` is botocore's dict, standard mode with defaults if None."""
    retries = retries if retries is not None else {"mode": "standard"}
    config = Config(retries=retries, max_pool_connections=pool)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def put_many(s3: Any, bucket: str, *, count: int, threads: int) -> None:
    """PUT objects k0..k<count-1> from parallel threads; raises the first failure."""
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(s3.put_object, Bucket=bucket, Key=f"k{n}", Body=b"%d" % n)
            for n in range(count)
        ]
    for future in futures:
        future.result()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto.endpoint, seed=1) as running:
        yield running


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    """A fresh bucket, created directly on moto so the proxy's counters start at zero."""
    name = f"faults-{os.getpid()}-{next(_bucket_numbers)}"
    client(moto.endpoint).create_bucket(Bucket=name)
    return name


def test_s3_operations_are_forwarded_unchanged(proxy: FaultProxy, moto: MotoServer) -> None:
    # GIVEN a client that talks to moto only through the proxy
    s3 = client(proxy.endpoint)

    # WHEN it creates a bucket, writes, reads, copies, lists and uploads in parts
    s3.create_bucket(Bucket="forwarded")
    s3.put_object(
        Bucket="forwarded",
        Key="plain.txt",
        Body=b"hello",
        ContentType="text/x-test",
        Metadata={"origin": "proxy"},
    )
    got = s3.get_object(Bucket="forwarded", Key="plain.txt")
    ranged = s3.get_object(Bucket="forwarded", Key="plain.txt", Range="bytes=1-3")
    s3.copy_object(
        Bucket="forwarded", Key="copy.txt", CopySource={"Bucket": "forwarded", "Key": "plain.txt"}
    )
    head = s3.head_object(Bucket="forwarded", Key="copy.txt")
    parts = [os.urandom(6 * MiB), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket="forwarded", Key="multi.bin")["UploadId"]
    etags = [
        s3.upload_part(
            Bucket="forwarded", Key="multi.bin", UploadId=upload, PartNumber=n, Body=body
        )["ETag"]
        for n, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket="forwarded",
        Key="multi.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    multi = s3.get_object(Bucket="forwarded", Key="multi.bin")["Body"].read()
    listed = s3.list_objects_v2(Bucket="forwarded")

    # THEN every response is moto's, relayed intact
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/x-test"
    assert got["Metadata"] == {"origin": "proxy"}
    assert ranged["Body"].read() == b"ell"
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 5
    assert head["Metadata"] == {"origin": "proxy"}
    assert multi == b"".join(parts)
    assert [o["Key"] for o in listed["Contents"]] == ["copy.txt", "multi.bin", "plain.txt"]
    direct = client(moto.endpoint).head_object(Bucket="forwarded", Key="multi.bin")
    assert direct["ContentLength"] == sum(len(p) for p in parts)
    counters = proxy.counters
    assert counters.requests == counters.forwarded > 10
    assert counters == FaultCounters(requests=counters.requests, forwarded=counters.forwarded)


def test_keys_with_special_characters_reach_moto_byte_for_byte(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN keys that any path normalisation or re-encoding would change
    s3 = client(proxy.endpoint)

    # WHEN they are written, copied, read and listed through the proxy
    for key in SPECIAL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        s3.copy_object(
            Bucket=bucket, Key=f"copies/{key}", CopySource={"Bucket": bucket, "Key": key}
        )

    # THEN each key is exactly the one written and its content is intact
    for key in SPECIAL_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
        assert s3.head_object(Bucket=bucket, Key=f"copies/{key}")["ContentLength"] == len(
            key.encode()
        )
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(SPECIAL_KEYS + [f"copies/{k}" for k in SPECIAL_KEYS])
    prefixed = s3.list_objects_v2(Bucket=bucket, Prefix="dir//", Delimiter="/")
    assert [p["Prefix"] for p in prefixed.get("CommonPrefixes", [])] == ["dir//file/"]


def test_chunked_request_body_is_forwarded_with_a_content_length(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN a raw HTTP/1.1 client sending a chunked body (moto does not check signatures)
    port = int(proxy.endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    # WHEN it PUTs an object in three chunks
    connection.request(
        "PUT",
        f"/{bucket}/chunked.txt",
        body=iter([b"abc", b"", b"def", b"ghi"]),
        encode_chunked=True,
    )
    response = connection.getresponse()
    response.read()
    connection.close()

    # THEN moto stored the de-chunked bytes
    assert response.status == 200
    got = client(proxy.endpoint).get_object(Bucket=bucket, Key="chunked.txt")
    assert got["Body"].read() == b"abcdefghi"


def test_slowdown_for_every_request_fails_a_client_that_does_not_retry(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN every request is answered SlowDown and a client with "max_attempts": 1, which in a
    # botocore Config means one *retry* (two attempts), unlike AWS_MAX_ATTEMPTS
    client(proxy.endpoint).put_object(Bucket=bucket, Key="there", Body=b"x")
    proxy.reset_counters()
    proxy.slowdown_fraction = 1.0
    s3 = client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 1})

    # WHEN it writes an object and heads another
    put = error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"data"))
    head = error_of(lambda: s3.head_object(Bucket=bucket, Key="there"))

    # THEN the write fails with S3's SlowDown, the HEAD with a bare 503, nothing was forwarded
    assert put == ("SlowDown", 503)
    assert head == ("503", 503)
    assert proxy.counters == FaultCounters(requests=4, slowdowns=4)
    # and the kept-alive connections are still in step: the same client works once it stops
    proxy.slowdown_fraction = 0.0
    assert s3.head_object(Bucket=bucket, Key="there")["ContentLength"] == 1
    assert s3.get_object(Bucket=bucket, Key="there")["Body"].read() == b"x"


def test_clients_with_retries_get_through_a_partial_slowdown(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN 30% of requests answered SlowDown and 40 threads sharing a retrying client
    proxy.slowdown_fraction = 0.3
    s3 = client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 10}, pool=40)

    # WHEN they write 50 objects in parallel
    put_many(s3, bucket, count=50, threads=40)

    # THEN all were written, each forwarded once, after some injected slowdowns
    counters = proxy.counters
    assert counters.slowdowns > 0
    assert counters.forwarded == 50
    assert counters.requests == 50 + counters.slowdowns
    proxy.slowdown_fraction = 0.0
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 50


def test_a_dropped_connection_is_a_connection_error_that_retries_get_through(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN every connection dropped and a client without retries
    proxy.drop_fraction = 1.0
    no_retries = client(proxy.endpoint, retries={"mode": "standard", "total_max_attempts": 1})

    # WHEN it writes, THEN botocore reports the connection closed before any response
    with pytest.raises(ConnectionClosedError):
        no_retries.put_object(Bucket=bucket, Key="lost", Body=b"x")
    assert proxy.counters == FaultCounters(requests=1, drops=1)

    # GIVEN 30% dropped instead and 15 threads sharing a retrying client
    proxy.drop_fraction = 0.3
    proxy.reset_counters()
    s3 = client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 10}, pool=15)

    # WHEN they write 30 objects in parallel
    put_many(s3, bucket, count=30, threads=15)

    # THEN all were written, each forwarded once, after some dropped connections
    counters = proxy.counters
    assert counters.drops > 0
    assert counters.forwarded == 30
    assert counters.requests == 30 + counters.drops
    proxy.drop_fraction = 0.0
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 30


def test_denied_keys_fail_to_read_and_to_copy_until_allowed(proxy: FaultProxy, bucket: str) -> None:
    # GIVEN a secret and a public object, and "secret" denied
    s3 = client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 3})
    s3.put_object(Bucket=bucket, Key="secret/x", Body=b"classified")
    s3.put_object(Bucket=bucket, Key="public/y", Body=b"open")
    proxy.deny("secret")
    copy_secret = {"Bucket": bucket, "Key": "secret/x"}

    # WHEN the secret is read, headed and copied, THEN access is denied (once: 403 is final)
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="secret/x")) == ("AccessDenied", 403)
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="secret/x")) == ("403", 403)
    copy = error_of(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource=copy_secret))
    assert copy == ("AccessDenied", 403)
    assert proxy.counters.denied == 3
    # and other keys are untouched
    assert s3.get_object(Bucket=bucket, Key="public/y")["Body"].read() == b"open"

    # WHEN the rule is removed, THEN the same calls succeed
    proxy.allow("secret")
    assert proxy.denied == ()
    assert s3.get_object(Bucket=bucket, Key="secret/x")["Body"].read() == b"classified"
    s3.copy_object(Bucket=bucket, Key="c", CopySource=copy_secret)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"classified"
    assert proxy.counters.denied == 3


def test_deny_matches_a_percent_encoded_copy_source_with_a_version(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN a versioned bucket holding a key with characters encoded in the copy source
    s3 = client(proxy.endpoint, retries={"mode": "standard", "max_attempts": 0})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "top secret/日本?x"
    version = s3.put_object(Bucket=bucket, Key=key, Body=b"v1")["VersionId"]
    proxy.deny("top secret/日本?x")
    source = {"Bucket": bucket, "Key": key, "VersionId": version}

    # WHEN it is copied whole and as a part, THEN both are denied
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource=source)) == (
        "AccessDenied",
        403,
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    part = error_of(
        lambda: s3.upload_part_copy(
            Bucket=bucket, Key="m", UploadId=upload, PartNumber=1, CopySource=source
        )
    )
    assert part == ("AccessDenied", 403)
    assert proxy.counters.denied == 2


def test_match_limits_slowdowns_and_drops_to_selected_requests(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN every GET answered SlowDown and nothing else
    seen: list[tuple[str, str]] = []

    def only_gets(method: str, target: str, headers: Message) -> bool:
        seen.append((method, target))
        assert headers["host"]
        return method == "GET"

    proxy.match = only_gets
    proxy.slowdown_fraction = 1.0
    s3 = client(proxy.endpoint, retries={"mode": "standard", "total_max_attempts": 1})

    # WHEN a key with a space is written and read
    s3.put_object(Bucket=bucket, Key="a b", Body=b"x")
    read = error_of(lambda: s3.get_object(Bucket=bucket, Key="a b"))

    # THEN only the read failed, and the predicate saw the raw request targets
    assert read == ("SlowDown", 503)
    assert seen == [("PUT", f"/{bucket}/a%20b"), ("GET", f"/{bucket}/a%20b")]
    assert proxy.counters == FaultCounters(requests=2, forwarded=1, slowdowns=1)
    proxy.clear_faults()
    assert s3.get_object(Bucket=bucket, Key="a b")["Body"].read() == b"x"


def test_service_is_limits_faults_to_one_service_on_the_shared_endpoint(
    proxy: FaultProxy, bucket: str
) -> None:
    # GIVEN every S3 request dropped, and S3 and SQS clients sharing the proxy's endpoint
    proxy.match = service_is("s3")
    proxy.drop_fraction = 1.0
    s3 = client(proxy.endpoint, retries={"mode": "standard", "total_max_attempts": 1})
    sqs = boto3.client(
        "sqs",
        endpoint_url=proxy.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    # WHEN both are used, THEN only S3 fails
    queue = sqs.create_queue(QueueName=f"{bucket}-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="still works")
    with pytest.raises(ConnectionClosedError):
        s3.list_objects_v2(Bucket=bucket)
    assert proxy.counters == FaultCounters(requests=3, forwarded=2, drops=1)


def test_stop_ends_idle_connections_and_frees_the_port(moto: MotoServer, bucket: str) -> None:
    # GIVEN a client holding kept-alive connections to a running proxy
    proxy = FaultProxy(moto.endpoint).start()
    endpoint = proxy.endpoint
    s3 = client(endpoint, retries={"mode": "standard", "total_max_attempts": 1})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    # WHEN the proxy stops
    started = time.monotonic()
    proxy.stop()

    # THEN it stops at once, its threads end and nothing answers on its port any more
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + 2
    while any(t.name == "fault-proxy" for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
        s3.get_object(Bucket=bucket, Key="k")
    with pytest.raises(RuntimeError):
        _ = proxy.endpoint


def test_fractions_outside_zero_to_one_are_rejected(moto: MotoServer) -> None:
    proxy = FaultProxy(moto.endpoint)
    with pytest.raises(ValueError):
        proxy.slowdown_fraction = 1.5
    with pytest.raises(ValueError):
        proxy.drop_fraction = -0.1
    with pytest.raises(ValueError):
        FaultProxy("moto:5000")
