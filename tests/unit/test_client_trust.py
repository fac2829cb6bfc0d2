"""What a botocore client trusts, read for the direct path (copier.client_trust)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.httpsession import get_cert_path

from copier.client_trust import Trust, ca_bundle_of


def client(**options: Any) -> Any:
    # A session of its own: botocore's default one keeps the environment it first read.
    return boto3.Session().client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="s",
        **options,
    )


def test_a_client_trusts_botocores_bundle_or_the_one_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bundle in the environment, and one given to a client
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    plain = client()
    given = client(verify=str(tmp_path / "given.pem"))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "environment.pem"))
    from_environment = client()
    monkeypatch.delenv("AWS_CA_BUNDLE")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "requests.pem"))
    from_requests = client()

    # WHEN their bundles are read
    # THEN each is the one botocore verifies with
    assert ca_bundle_of(plain) == get_cert_path(True)
    assert ca_bundle_of(given) == str(tmp_path / "given.pem")
    assert ca_bundle_of(from_environment) == str(tmp_path / "environment.pem")
    assert ca_bundle_of(from_requests) == str(tmp_path / "requests.pem")


@pytest.mark.parametrize(
    "options",
    [
        {"verify": False},
        {"config": Config(proxies={"https": "http://proxy.invalid:3128"})},
        {"config": Config(client_cert="/nowhere/cert.pem")},
    ],
    ids=["no-verification", "proxy", "client-certificate"],
)
def test_a_client_the_direct_path_cannot_stand_in_for_has_no_bundle(
    options: dict[str, Any],
) -> None:
    # GIVEN a client that does not verify, goes through a proxy, or shows a certificate
    # WHEN its bundle is read
    # THEN there is none: it sends its copies itself
    assert ca_bundle_of(client(**options)) is None


def test_a_bundle_that_cannot_be_read_gives_no_context(tmp_path: Path) -> None:
    # GIVEN a bundle that is not PEM, and botocore's own
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate\n")
    trust = Trust()

    # WHEN contexts are made for them, twice
    # THEN the broken one has none, botocore's has one, and each is made once
    assert trust.context(str(broken)) is None
    made = trust.context(str(get_cert_path(True)))
    assert made is not None
    assert trust.context(str(get_cert_path(True))) is made
