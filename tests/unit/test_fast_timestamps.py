"""The clients' timestamp parser gives what botocore's own gives, for every form it meets."""

from __future__ import annotations

import pytest
from botocore.utils import parse_timestamp

from s3migrator.aws import fast_timestamp

FORMS = [
    "2024-05-01T12:00:00.000Z",  # S3's listings
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.123456Z",
    "2024-12-31T23:59:59.999Z",
    "2024-05-01T12:00:00+02:00",  # an offset: botocore's path
    "Wed, 01 May 2024 12:00:00 GMT",  # HTTP dates (HeadObject's Last-Modified)
    1714564800,  # epoch seconds (DynamoDB, SQS)
    "1714564800.5",
]


@pytest.mark.parametrize("value", FORMS)
def test_fast_timestamps_equal_botocores(value: object) -> None:
    ours, theirs = fast_timestamp(value), parse_timestamp(value)
    assert (ours, ours.utcoffset()) == (theirs, theirs.utcoffset())
