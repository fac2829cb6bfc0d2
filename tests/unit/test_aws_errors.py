"""The one boundary: botocore errors into the project's error tree, and the redelivery backoff."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from s3migrator.aws_errors import (
    PROVIDER_ERRORS,
    empty_change_set,
    failed_entry,
    translate,
    translated,
)
from s3migrator.backoff import MAX_VISIBILITY_S, backoff_s
from s3migrator.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AlreadyOwnedError,
    ConditionFailedError,
    Missing,
    NotFoundError,
    PermanentError,
    TransientError,
    UnreachableError,
    WrongRegionError,
)


def client_error(
    code: str, status: int | None, operation: str = "CopyObject", **extra: object
) -> ClientError:
    response: dict[str, object] = {"Error": {"Code": code, "Message": f"{code} happened"}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError({**response, **extra}, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("RequestTimeout", 400),
        ("ExpiredToken", 400),
        ("ConditionalRequestConflict", 409),
        ("SomethingNew", 502),
    ],
)
def test_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    # WHEN a retryable provider error is translated
    error = translate(client_error(code, status))
    # THEN it is transient and keeps the provider's code, message and status
    assert type(error) is TransientError
    assert (error.code, error.http_status, error.message) == (code, status, f"{code} happened")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), UnreachableError),
        (ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"), UnreachableError),
        (NoCredentialsError(), UnreachableError),
        (ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"), TransientError),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), TransientError),
    ],
)
def test_connection_and_credential_errors_are_transient(
    exc: Exception, kind: type[TransientError]
) -> None:
    error = translate(exc)
    assert type(error) is kind
    assert isinstance(error, TransientError)
    assert error.code == type(exc).__name__


@pytest.mark.parametrize(
    ("code", "status", "operation", "kind", "expected_code"),
    [
        ("NoSuchKey", 404, "CopyObject", NotFoundError, "NoSuchKey"),
        ("NoSuchBucket", 404, "ListObjectsV2", NotFoundError, "NoSuchBucket"),
        ("404", 404, "HeadObject", NotFoundError, "NoSuchKey"),
        ("404", 404, "HeadBucket", NotFoundError, "NoSuchBucket"),
        ("AWS.SimpleQueueService.NonExistentQueue", 400, "SendMessage", NotFoundError, None),
        ("AccessDenied", 403, "CopyObject", AccessDeniedError, "AccessDenied"),
        ("403", 403, "HeadBucket", AccessDeniedError, "AccessDenied"),
        ("KMS.DisabledException", 400, "GetObject", AccessDeniedError, None),
        ("PreconditionFailed", 412, "CopyObject", ConditionFailedError, None),
        ("412", 412, "HeadObject", ConditionFailedError, "PreconditionFailed"),
        ("ConditionalCheckFailedException", 400, "UpdateItem", ConditionFailedError, None),
        # S3's refusals of a request signed for another region than the bucket's.
        ("PermanentRedirect", 301, "DeleteObject", WrongRegionError, None),
        ("AuthorizationHeaderMalformed", 400, "DeleteObjects", WrongRegionError, None),
        ("301", 301, "HeadBucket", WrongRegionError, None),
        # Archived objects answer 403, yet it is the object, not a permission, that is at fault.
        ("InvalidObjectState", 403, "CopyObject", PermanentError, None),
    ],
)
def test_permanent_errors_land_on_their_branch_of_the_tree(
    code: str,
    status: int,
    operation: str,
    kind: type[PermanentError],
    expected_code: str | None,
) -> None:
    error = translate(client_error(code, status, operation))
    assert type(error) is kind
    assert (error.code, error.http_status) == (expected_code or code, status)


def test_a_missing_stack_is_not_found() -> None:
    exc = ClientError(
        {"Error": {"Code": "ValidationError", "Message": "Stack with id x does not exist"}},
        "DescribeStacks",
    )
    assert isinstance(translate(exc), NotFoundError)


def test_a_transaction_cancelled_by_its_condition_is_a_failed_condition() -> None:
    exc = client_error(
        "TransactionCanceledException",
        400,
        "TransactWriteItems",
        CancellationReasons=[{"Code": "ConditionalCheckFailed"}, {"Code": "None"}],
    )
    assert isinstance(translate(exc), ConditionFailedError)


def test_a_transaction_cancelled_by_a_conflict_is_transient() -> None:
    exc = client_error(
        "TransactionCanceledException",
        400,
        "TransactWriteItems",
        CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}],
    )
    assert type(translate(exc)) is TransientError


def test_an_sse_c_source_is_named_as_such() -> None:
    exc = ClientError(
        {
            "Error": {
                "Code": "InvalidRequest",
                "Message": "The object was stored using a form of Server Side Encryption.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "CopyObject",
    )
    error = translate(exc)
    assert isinstance(error, PermanentError)
    assert error.code == "SSECustomerKeyRequired"


def test_project_errors_pass_through_unchanged() -> None:
    original = TransientError("SlowDown", "later", 503)
    assert translate(original) is original


def test_unexpected_exceptions_are_permanent_and_named_by_type() -> None:
    error = translate(ValueError("bad"))
    assert isinstance(error, PermanentError)
    assert (error.code, error.message) == ("ValueError", "bad")


def test_other_botocore_errors_stay_transient_as_the_copier_always_treated_them() -> None:
    error = translate(ParamValidationError(report="no Bucket"))
    assert type(error) is TransientError
    assert error.code == "ParamValidationError"


@pytest.mark.parametrize(
    ("code", "operation", "missing"),
    [
        ("NoSuchBucketPolicy", "GetBucketPolicy", Missing.BUCKET_POLICY),
        ("NoSuchBucket", "GetBucketPolicy", Missing.BUCKET),
        ("404", "HeadObject", Missing.KEY),
        ("404", "HeadBucket", Missing.BUCKET),
        ("AWS.SimpleQueueService.NonExistentQueue", "SendMessage", Missing.QUEUE),
    ],
)
def test_not_found_says_what_is_missing(code: str, operation: str, missing: Missing) -> None:
    error = translate(client_error(code, 404, operation))
    assert isinstance(error, NotFoundError)
    assert error.missing is missing


def test_a_bucket_name_taken_by_us_or_by_another_account_is_told_apart() -> None:
    ours = translate(client_error("BucketAlreadyOwnedByYou", 409, "CreateBucket"))
    theirs = translate(client_error("BucketAlreadyExists", 409, "CreateBucket"))
    assert type(ours) is AlreadyOwnedError
    assert type(theirs) is AlreadyExistsError


def test_failed_batch_entries_are_permanent_only_when_the_sender_is_at_fault() -> None:
    refused = failed_entry({"Id": "0", "Code": "InvalidMessageContents", "SenderFault": True})
    busy = failed_entry({"Id": "1", "Code": "InternalError", "SenderFault": False})
    assert (type(refused), refused.code) == (PermanentError, "InvalidMessageContents")
    assert (type(busy), busy.code) == (TransientError, "InternalError")


def test_a_change_set_without_changes_is_recognised() -> None:
    assert empty_change_set("The submitted information didn't contain changes.")
    assert empty_change_set("No updates are to be performed.")
    assert not empty_change_set("Template format error: unsupported structure.")


def test_client_error_without_status_is_classified_by_code() -> None:
    error = translate(client_error("SlowDown", None))
    assert isinstance(error, TransientError)
    assert error.http_status is None


def test_translated_blocks_raise_the_project_error_with_the_cause_kept() -> None:
    cause = client_error("NoSuchKey", 404)
    with pytest.raises(NotFoundError) as raised, translated():
        raise cause
    assert raised.value.__cause__ is cause
    assert ClientError in PROVIDER_ERRORS


def test_backoff_doubles_from_the_base() -> None:
    assert [backoff_s(a) for a in range(1, 6)] == [5, 10, 20, 40, 80]


def test_backoff_is_capped() -> None:
    assert backoff_s(30) == 900
    assert backoff_s(200, cap_s=10**9) == MAX_VISIBILITY_S


def test_backoff_is_at_least_one_second_and_scaled_by_jitter() -> None:
    assert backoff_s(1, jitter=0.0) == 1
    assert backoff_s(3, jitter=0.5) == 10


def test_backoff_from_a_base_of_zero_is_none() -> None:
    assert [backoff_s(a, base_s=0) for a in range(1, 4)] == [0, 0, 0]


def test_backoff_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        backoff_s(0)
