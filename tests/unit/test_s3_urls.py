"""s3:// URLs into bucket and prefix."""

from __future__ import annotations

import pytest

from s3migrator.models import Location, ReportLocation, split_s3_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/prefix/", ("bucket", "prefix/")),
        ("s3://bucket/a/b/c.txt", ("bucket", "a/b/c.txt")),
        ("s3://bucket/with space/é", ("bucket", "with space/é")),
    ],
)
def test_s3_urls_split_into_bucket_and_prefix(url: str, expected: tuple[str, str]) -> None:
    assert split_s3_url(url) == expected


@pytest.mark.parametrize(
    "url", ["bucket/prefix", "https://bucket/x", "S3://bucket", "s3://", "s3:///p"]
)
def test_non_s3_urls_and_missing_buckets_raise(url: str) -> None:
    with pytest.raises(ValueError):
        split_s3_url(url)


def test_location_drops_unset_fields_and_validates_the_bucket() -> None:
    loc = Location.from_url("s3://my-bucket/in/", region=None, role_arn=None)
    assert (loc.bucket, loc.prefix, loc.region) == ("my-bucket", "in/", None)
    assert Location.from_url("s3://my-bucket", region="eu-west-1").region == "eu-west-1"
    with pytest.raises(ValueError):
        Location.from_url("s3://Bad_Bucket/x")


def test_a_report_url_without_a_prefix_keeps_the_default_prefix() -> None:
    assert ReportLocation.from_url("s3://reports") == ReportLocation(bucket="reports")
    assert ReportLocation.from_url("s3://reports/x/").prefix == "x/"
