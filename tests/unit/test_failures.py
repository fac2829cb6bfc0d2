"""Failure classification at the botocore boundary, and the backoff for SQS redelivery."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from copier.backoff import MAX_VISIBILITY_S, backoff_s
from copier.failures import CHANGED_CODES, classify
from s3migrator.errors import CopyError, PermanentCopyError, TransientCopyError


def client_error(code: str, status: int, operation: str = "CopyObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("RequestTimeout", 400),
        ("SomethingNew", 502),
    ],
)
def test_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    # WHEN a retryable provider error is classified
    error = classify(client_error(code, status))
    # THEN it is transient and keeps the provider's code and status
    assert isinstance(error, TransientCopyError)
    assert (error.code, error.http_status) == (code, status)
    assert error.message == f"{code} happened"


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ],
)
def test_connection_errors_are_transient(exc: Exception) -> None:
    error = classify(exc)
    assert isinstance(error, TransientCopyError)
    assert error.code == type(exc).__name__


@pytest.mark.parametrize(
    ("code", "status"),
    [("NoSuchKey", 404), ("AccessDenied", 403), ("InvalidObjectState", 403)],
)
def test_missing_denied_and_archived_objects_are_permanent(code: str, status: int) -> None:
    error = classify(client_error(code, status))
    assert isinstance(error, PermanentCopyError)
    assert (error.code, error.http_status) == (code, status)


def test_precondition_failed_is_a_changed_code_classified_permanent() -> None:
    # GIVEN the source changed since listing (CopySourceIfMatch no longer matches)
    exc = client_error("PreconditionFailed", 412)
    # WHEN classified
    error = classify(exc)
    # THEN it is listed among the changed codes and, today, treated as a permanent failure
    assert "PreconditionFailed" in CHANGED_CODES
    assert isinstance(error, PermanentCopyError)
    assert error.http_status == 412


def test_copy_errors_pass_through_unchanged() -> None:
    original = TransientCopyError("SlowDown", "later", 503)
    assert classify(original) is original


def test_unexpected_exceptions_are_permanent() -> None:
    error = classify(ValueError("bad"))
    assert isinstance(error, PermanentCopyError)
    assert isinstance(error, CopyError)
    assert error.code == "ValueError"


def test_client_error_without_status_is_classified_by_code() -> None:
    exc = ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "CopyObject")
    error = classify(exc)
    assert isinstance(error, TransientCopyError)
    assert error.http_status is None


def test_backoff_doubles_from_the_base() -> None:
    assert [backoff_s(a) for a in range(1, 6)] == [5, 10, 20, 40, 80]


def test_backoff_is_capped() -> None:
    assert backoff_s(30) == 900
    assert backoff_s(200, cap_s=10**9) == MAX_VISIBILITY_S


def test_backoff_is_at_least_one_second_and_scaled_by_jitter() -> None:
    assert backoff_s(1, jitter=0.0) == 1
    assert backoff_s(3, jitter=0.5) == 10


def test_backoff_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        backoff_s(0)
