"""Small objects' CopyObject sent directly (copier.direct_copies), against a moto server on
loopback: the direct path does its own HTTP, which in-process moto does not see."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from direct_copy_helpers import (
    DESTINATION,
    LEARNT,
    SOURCE,
    attached,
    bare_client,
    botocore_sends,
    client,
)
from moto.server import ThreadedMotoServer

from copier.direct_copies import DirectCopies
from s3migrator.cli.local.motoserver import patch_moto
from s3migrator.cli.local.server import free_port


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


def test_a_client_that_does_not_verify_certificates_sends_its_copies_itself(
    moto_endpoint: str, direct: DirectCopies
) -> None:
    # GIVEN a client made not to verify certificates, as botocore allows, and three objects
    s3 = bare_client(moto_endpoint, verify=False)
    attached(s3, direct)
    for n in range(3):
        s3.put_object(Bucket=SOURCE, Key=f"unverified/{n}", Body=b"u")
    sent = botocore_sends(s3)

    # WHEN they are copied
    for n in range(3):
        direct.copy_object(
            s3, Bucket=DESTINATION, Key=f"unverified/{n}", CopySource=f"{SOURCE}/unverified/{n}"
        )

    # THEN botocore sent every one: the direct path would verify what botocore does not
    assert len(sent) == 3


@pytest.mark.parametrize("timeout", ["connect_timeout", "read_timeout"])
def test_a_client_without_a_timeout_copies_directly_under_the_deadline_alone(
    moto_endpoint: str, direct: DirectCopies, timeout: str
) -> None:
    # GIVEN a client made with no connect or no read timeout (None: botocore waits as long as it
    # takes), whose shape is learnt
    s3 = bare_client(moto_endpoint, config=Config(**{timeout: None}))
    attached(s3, direct)
    learn(direct, s3, Bucket=DESTINATION)
    s3.put_object(Bucket=SOURCE, Key=f"untimed/{timeout}", Body=b"t")
    sent = botocore_sends(s3)

    # WHEN an object is copied
    direct.copy_object(
        s3, Bucket=DESTINATION, Key=f"untimed/{timeout}", CopySource=f"{SOURCE}/untimed/{timeout}"
    )

    # THEN it went directly, waiting on the direct path's deadline alone
    assert sent == []
    assert s3.get_object(Bucket=DESTINATION, Key=f"untimed/{timeout}")["Body"].read() == b"t"
