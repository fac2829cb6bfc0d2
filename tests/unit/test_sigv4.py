"""``copier.sigv4`` signs a bodiless request exactly as botocore's ``S3SigV4Auth`` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from unittest.mock import patch
from urllib.parse import urlsplit

import pytest
from botocore.auth import EMPTY_SHA256_HASH, S3SigV4Auth, _host_from_url  # type: ignore[attr-defined]
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from copier.sigv4 import SigV4, host_of

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJ//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="
WHEN = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
KEY = percent_encode("a folder/ü+%=&?.txt", safe="/~")


def botocore_signed(
    url: str,
    headers: dict[str, str],
    *,
    region: str,
    secret_key: str = SK,
    token: str | None = None,
    when: datetime = WHEN,
) -> dict[str, str]:
    """The headers botocore's S3 signer leaves on a PUT without body, by lowercase name."""
    request = AWSRequest(method="PUT", url=url, headers=headers)
    request.context = {}
    # botocore reads the clock as a naive UTC datetime
    naive = when.astimezone(UTC).replace(tzinfo=None)
    with patch("botocore.auth.get_current_datetime", return_value=naive):
        S3SigV4Auth(Credentials(AK, secret_key, token), "s3", region).add_auth(request)
    # HTTPHeaders may hold a name twice; the signed headers botocore adds are each there once
    return {name.lower(): value for name, value in request.headers.items()}


def ours(
    url: str,
    headers: dict[str, str],
    *,
    region: str,
    secret_key: str = SK,
    token: str | None = None,
    when: datetime = WHEN,
    signer: SigV4 | None = None,
) -> list[tuple[str, str]]:
    return (signer or SigV4()).signed_headers(
        "PUT",
        urlsplit(url),
        headers,
        region=region,
        access_key=AK,
        secret_key=secret_key,
        token=token,
        now=when,
    )


def by_name(sent: list[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in sent}


CASES = {
    "virtual host, https, default port written": (
        f"https://my-bucket.s3.eu-west-1.amazonaws.com:443/{KEY}",
        {"x-amz-copy-source": "src-bucket/a%20folder/%C3%BC%2B%25%3D%26%3F.txt"},
        "eu-west-1",
        TOKEN,
    ),
    "path style, http, non-default port": (
        f"http://127.0.0.1:9000/my-bucket/{KEY}",
        {"x-amz-copy-source": "src/k", "x-amz-metadata-directive": "COPY"},
        "us-east-1",
        None,
    ),
    "path style, https, no port": (
        f"https://s3.us-west-2.amazonaws.com/my-bucket/{KEY}",
        {"x-amz-copy-source": "src/k"},
        "us-west-2",
        TOKEN,
    ),
    "virtual host, http, default port written": (
        f"http://my-bucket.s3.amazonaws.com:80/{KEY}",
        {"x-amz-copy-source": "src/k"},
        "us-east-1",
        None,
    ),
    "IPv6 endpoint": (
        f"http://[::1]:9000/my-bucket/{KEY}",
        {"x-amz-copy-source": "src/k"},
        "us-east-1",
        TOKEN,
    ),
    "dot segments, double slash, tilde": (
        "https://s3.amazonaws.com/my-bucket/" + percent_encode("dir//./../~x y", safe="/~"),
        {"x-amz-copy-source": "src/k"},
        "us-east-1",
        None,
    ),
    "uppercase host": (
        "https://My-Bucket.S3.Amazonaws.COM/plain/key.txt",
        {"x-amz-copy-source": "src/k"},
        "us-east-1",
        None,
    ),
    "spaces, mixed case, user agent": (
        f"https://my-bucket.s3.eu-central-1.amazonaws.com/{KEY}",
        {
            "X-AMZ-Copy-Source": "src/k",
            "x-Amz-Meta-Note": "  two  runs   of spaces\tand a tab  ",
            "Content-Type": " text/plain ",
            "x-amz-tagging": "",
            "User-Agent": "Boto3/1.34.80 md/Botocore#1.34.80  ua/2.0 os/linux",
            "amz-sdk-invocation-id": "0f6c-4a9b",
            "amz-sdk-request": "attempt=1; max=3",
        },
        "eu-central-1",
        TOKEN,
    ),
    "explicit host header": (
        f"http://127.0.0.1:9000/my-bucket/{KEY}",
        {"Host": "My-Bucket.example.com", "x-amz-copy-source": "src/k"},
        "us-east-1",
        None,
    ),
    "a name twice in different case": (
        f"https://my-bucket.s3.amazonaws.com/{KEY}",
        {"X-Amz-Meta-A": "first", "x-amz-meta-a": " second  value "},
        "us-east-1",
        TOKEN,
    ),
    "a retry carrying the previous signature": (
        f"https://my-bucket.s3.amazonaws.com/{KEY}",
        {
            "x-amz-copy-source": "src/k",
            "Authorization": "AWS4-HMAC-SHA256 Credential=old",
            "X-Amz-Date": "20200101T000000Z",
            "X-Amz-Security-Token": "old-token",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        },
        "us-east-1",
        TOKEN,
    ),
}


@pytest.mark.parametrize(("url", "headers", "region", "token"), CASES.values(), ids=CASES.keys())
def test_signature_is_botocores(
    url: str, headers: dict[str, str], region: str, token: str | None
) -> None:
    # GIVEN a bodiless PUT botocore would sign
    expected = botocore_signed(url, headers, region=region, token=token)
    # WHEN it is signed by hand at the same instant
    sent = by_name(ours(url, headers, region=region, token=token))
    # THEN the signature and every header it covers are botocore's
    assert sent["authorization"] == expected["authorization"]
    assert sent["x-amz-date"] == expected["x-amz-date"] == "20240229T235958Z"
    assert sent["x-amz-content-sha256"] == expected["x-amz-content-sha256"] == EMPTY_SHA256_HASH
    assert sent.get("x-amz-security-token") == expected.get("x-amz-security-token") == token
    # AND it sends what botocore would, with the Host botocore signs when none was given
    host = sent.pop("host")
    assert host == expected.pop("host", host_of(urlsplit(url)))
    assert sent == expected


def test_user_agent_is_sent_but_not_signed() -> None:
    # GIVEN a request carrying a User-Agent
    url = f"https://my-bucket.s3.amazonaws.com/{KEY}"
    headers = {"User-Agent": "Boto3/1.34", "x-amz-copy-source": "src/k"}
    # WHEN it is signed
    sent = by_name(ours(url, headers, region="us-east-1"))
    # THEN the User-Agent goes out as given, outside the signed headers
    assert sent["user-agent"] == "Boto3/1.34"
    signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert signed == "host;x-amz-content-sha256;x-amz-copy-source;x-amz-date"
    # AND another User-Agent leaves the signature as it was
    other = by_name(ours(url, {**headers, "User-Agent": "curl/8"}, region="us-east-1"))
    assert other["authorization"] == sent["authorization"]


def test_signed_header_value_changes_the_signature() -> None:
    # GIVEN two requests differing only in a signed header's value
    url = f"https://my-bucket.s3.amazonaws.com/{KEY}"
    one = by_name(ours(url, {"x-amz-copy-source": "src/a"}, region="us-east-1"))
    two = by_name(ours(url, {"x-amz-copy-source": "src/b"}, region="us-east-1"))
    # THEN their signatures differ
    assert one["authorization"] != two["authorization"]


def test_output_keeps_input_headers_and_adds_the_signatures_own() -> None:
    # GIVEN input headers, some of which a previous signature left
    headers = {"x-amz-copy-source": "src/k", "X-Amz-Date": "old", "authorization": "old"}
    # WHEN signed without a session token
    sent = ours(f"http://127.0.0.1:9000/b/{KEY}", headers, region="us-east-1")
    # THEN the input's own headers come first, the stale ones gone, and no token header
    names = [name for name, _ in sent]
    assert names == [
        "x-amz-copy-source",
        "X-Amz-Date",
        "X-Amz-Content-SHA256",
        "Host",
        "Authorization",
    ]
    assert dict(sent)["X-Amz-Date"] == "20240229T235958Z"
    assert dict(sent)["Host"] == "127.0.0.1:9000"


def test_a_days_signing_key_serves_the_whole_day_and_not_the_next() -> None:
    # GIVEN one signer used all day long, then past midnight, then for another region
    signer = SigV4()
    url, headers = f"https://my-bucket.s3.amazonaws.com/{KEY}", {"x-amz-copy-source": "src/k"}
    moments = [
        (datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC), "us-east-1"),
        (datetime(2024, 3, 1, 12, 30, 0, tzinfo=UTC), "us-east-1"),
        (datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC), "us-east-1"),
        (datetime(2024, 3, 2, 0, 0, 0, tzinfo=UTC), "us-east-1"),
        (datetime(2024, 3, 2, 0, 0, 0, tzinfo=UTC), "eu-west-1"),
    ]
    for when, region in moments:
        # WHEN it signs at that moment
        sent = by_name(ours(url, headers, region=region, when=when, signer=signer))
        # THEN each signature is botocore's, which derives its key afresh every time
        expected = botocore_signed(url, headers, region=region, when=when)
        assert sent["authorization"] == expected["authorization"], (when, region)


def test_a_rotated_secret_is_signed_with_its_own_key() -> None:
    # GIVEN a signer that has signed with one secret today
    signer = SigV4()
    url, headers = f"https://my-bucket.s3.amazonaws.com/{KEY}", {"x-amz-copy-source": "src/k"}
    first = by_name(ours(url, headers, region="us-east-1", signer=signer))
    # WHEN the secret rotates on the same day
    rotated = "another/secret+key"
    second = by_name(ours(url, headers, region="us-east-1", secret_key=rotated, signer=signer))
    # THEN each signature is botocore's with its own secret, and the two differ
    assert (
        first["authorization"] == botocore_signed(url, headers, region="us-east-1")["authorization"]
    )
    expected = botocore_signed(url, headers, region="us-east-1", secret_key=rotated)
    assert second["authorization"] == expected["authorization"]
    assert first["authorization"] != second["authorization"]


def test_a_different_secret_is_not_botocores_signature() -> None:
    # GIVEN botocore's signature with one secret
    url, headers = f"https://my-bucket.s3.amazonaws.com/{KEY}", {"x-amz-copy-source": "src/k"}
    expected = botocore_signed(url, headers, region="us-east-1")
    # WHEN signed by hand with another secret
    sent = by_name(ours(url, headers, region="us-east-1", secret_key=SK + "x"))
    # THEN the credential scope matches but the signature does not
    assert (
        sent["authorization"].split("Signature=")[0]
        == (expected["authorization"].split("Signature=")[0])
    )
    assert sent["authorization"] != expected["authorization"]


def test_many_secrets_still_sign_correctly_once_keys_are_forgotten() -> None:
    # GIVEN a signer that has signed with more secrets than it keeps keys for
    signer = SigV4()
    url, headers = f"https://my-bucket.s3.amazonaws.com/{KEY}", {"x-amz-copy-source": "src/k"}
    for n in range(100):
        ours(url, headers, region="us-east-1", secret_key=f"secret-{n}", signer=signer)
    # WHEN it signs with the first and the last again
    for secret in ("secret-0", "secret-99"):
        sent = by_name(ours(url, headers, region="us-east-1", secret_key=secret, signer=signer))
        # THEN the signature is botocore's
        expected = botocore_signed(url, headers, region="us-east-1", secret_key=secret)
        assert sent["authorization"] == expected["authorization"]


def test_a_time_given_in_another_zone_is_signed_as_its_utc_instant() -> None:
    # GIVEN the instant WHEN, written in a zone two hours east of UTC
    east = WHEN.astimezone(timezone(timedelta(hours=2)))
    url, headers = f"https://my-bucket.s3.amazonaws.com/{KEY}", {"x-amz-copy-source": "src/k"}
    # WHEN signed at that instant
    sent = by_name(ours(url, headers, region="us-east-1", when=east))
    # THEN the date and the signature are botocore's for the same instant
    assert sent["x-amz-date"] == "20240229T235958Z"
    assert (
        sent["authorization"] == botocore_signed(url, headers, region="us-east-1")["authorization"]
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://bucket.s3.amazonaws.com/k", "bucket.s3.amazonaws.com"),
        ("https://bucket.s3.amazonaws.com:443/k", "bucket.s3.amazonaws.com"),
        ("http://bucket.s3.amazonaws.com:80/k", "bucket.s3.amazonaws.com"),
        ("https://bucket.s3.amazonaws.com:80/k", "bucket.s3.amazonaws.com:80"),
        ("http://bucket.s3.amazonaws.com:443/k", "bucket.s3.amazonaws.com:443"),
        ("http://127.0.0.1:9000/b/k", "127.0.0.1:9000"),
        ("http://Bucket.Example.COM:8080/k", "bucket.example.com:8080"),
        ("http://user:secret@host.example:81/k", "host.example:81"),
        ("http://[::1]/k", "[::1]"),
        ("http://[::1]:80/k", "[::1]"),
        ("https://[2001:DB8::1]:9443/k", "[2001:db8::1]:9443"),
    ],
)
def test_host_of(url: str, host: str) -> None:
    # WHEN the Host of a URL is taken
    # THEN it is lowercase, without userinfo or a default port, an IPv6 address bracketed
    assert host_of(urlsplit(url)) == host
    # AND it is the Host botocore signs when a request has none
    assert _host_from_url(url) == host
