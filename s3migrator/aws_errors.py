"""The one boundary between botocore's errors and the project's error tree (``errors.py``).

Every caller that must tell one provider error from another asks here rather than reading
codes itself: ``translate`` for exceptions (codes, HTTP statuses, the bare statuses of body-less
HEAD responses, DynamoDB's conditional-check and transaction-cancellation reasons, connection
failures), ``failed_entry`` for the failed entries of a batch call, ``empty_change_set`` for
CloudFormation's way of saying a change set has nothing to do.

Example::

    try:
        s3.head_bucket(Bucket=name)
    except PROVIDER_ERRORS as exc:
        if isinstance(translate(exc), NotFoundError):
            create(name)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from s3migrator.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AlreadyOwnedError,
    ConditionFailedError,
    Missing,
    NotFoundError,
    OperationError,
    PermanentError,
    TransientError,
    UnreachableError,
    WrongRegionError,
)

# What a boto3 call raises; catch these, then translate.
PROVIDER_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "OperationAborted",
        # Two conditional writes of one key at once (a batch copied by two copiers): the next
        # attempt gets 412 and is told apart like any other refusal.
        "ConditionalRequestConflict",
        "ExpiredToken",
        "TokenRefreshRequired",
        "TransactionConflict",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
NOT_FOUND_CODES = {
    "NoSuchKey": Missing.KEY,
    "NoSuchBucket": Missing.BUCKET,
    "NoSuchUpload": Missing.UPLOAD,
    "NoSuchVersion": Missing.VERSION,
    "NoSuchBucketPolicy": Missing.BUCKET_POLICY,
    "NotFound": Missing.OTHER,
    "ResourceNotFoundException": Missing.OTHER,
    "AWS.SimpleQueueService.NonExistentQueue": Missing.QUEUE,
    "QueueDoesNotExist": Missing.QUEUE,
}
ALREADY_OWNED_CODES = frozenset({"BucketAlreadyOwnedByYou"})
ALREADY_EXISTS_CODES = frozenset({"BucketAlreadyExists"})
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "PreconditionFailed"})
# S3 carries out no request signed for another region than the bucket's: it answers one of
# these (a bare 301 for a HEAD) instead.
WRONG_REGION_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "301"})
# Transaction cancellation reasons that a retry can get past.
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
# HEAD responses have no body, so botocore reports the bare status as the code.
_BODYLESS = {
    ("HeadBucket", "404"): "NoSuchBucket",
    ("HeadObject", "404"): "NoSuchKey",
}
_BODYLESS_ANY = {"404": "NotFound", "403": "AccessDenied", "412": "PreconditionFailed"}


def not_carried_out(error: OperationError) -> bool:
    """Whether S3 answered that it did not carry the request out (a conflicting operation in
    progress), as against a failure whose outcome is unknown (a timeout)."""
    return error.code == "OperationAborted"


def translate(exc: BaseException) -> OperationError:
    """The project's error for any exception met while calling AWS.

    Project errors pass through unchanged; an exception that is neither ours nor botocore's (a
    bug) becomes a permanent error named after its type, so one object's failure is reported
    rather than retried for ever.
    """
    if isinstance(exc, OperationError):
        return exc
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return UnreachableError(type(exc).__name__, str(exc))
    if isinstance(exc, ConnectionError) and not isinstance(exc, HTTPClientError):
        return UnreachableError(type(exc).__name__, str(exc))
    if isinstance(exc, BotoCoreError):
        # Dropped connections, read timeouts and the like: the request may work next time.
        return TransientError(type(exc).__name__, str(exc))
    return PermanentError(type(exc).__name__, str(exc))


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise provider errors from the block as the project's errors (the cause kept)."""
    try:
        yield
    except PROVIDER_ERRORS as exc:
        raise translate(exc) from exc


def failed_entry(entry: Mapping[str, Any]) -> OperationError:
    """The error of one failed entry of a batch call (SendMessageBatch and the like).

    SQS marks the entries it refuses for the sender's fault (a body it cannot take): those are
    permanent; the others may go through when sent again.
    """
    code, message = str(entry.get("Code", "Unknown")), str(entry.get("Message", ""))
    if entry.get("SenderFault"):
        return PermanentError(code, message)
    return TransientError(code, message)


def empty_change_set(status_reason: str) -> bool:
    """CloudFormation's reason for a change set that fails because it changes nothing."""
    return "didn't contain changes" in status_reason or "No updates" in status_reason


def _client_error(exc: ClientError) -> OperationError:
    response: Any = exc.response
    error = response.get("Error", {})
    raw_code = str(error.get("Code", "Unknown"))
    code = _BODYLESS.get((exc.operation_name, raw_code)) or _BODYLESS_ANY.get(raw_code, raw_code)
    message = str(error.get("Message", "")) or str(exc)
    status_value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    status = int(status_value) if status_value is not None else None
    if code == "TransactionCanceledException":
        reasons = {str(r.get("Code", "")) for r in response.get("CancellationReasons", [])}
        if reasons & _RETRYABLE_REASONS:
            return TransientError(code, message, status)
        if "ConditionalCheckFailed" in reasons:
            return ConditionFailedError(code, message, status)
        return PermanentError(code, message, status)
    if code in TRANSIENT_CODES or (status is not None and status >= 500):
        return TransientError(code, message, status)
    if code in CONDITION_CODES:
        return ConditionFailedError(code, message, status)
    if code in WRONG_REGION_CODES:
        return WrongRegionError(code, message, status)
    if code in NOT_FOUND_CODES:
        return NotFoundError(code, message, status, NOT_FOUND_CODES[code])
    if code == "ValidationError" and "does not exist" in message:
        # CloudFormation's answer for a stack that is not there.
        return NotFoundError(code, message, status, Missing.STACK)
    if code in ALREADY_OWNED_CODES:
        return AlreadyOwnedError(code, message, status)
    if code in ALREADY_EXISTS_CODES:
        return AlreadyExistsError(code, message, status)
    if code in ACCESS_CODES or code.startswith("KMS."):
        return AccessDeniedError(code, message, status)
    if code == "InvalidRequest" and "Server Side Encryption" in message:
        return PermanentError(
            "SSECustomerKeyRequired",
            "the source object is encrypted with a customer-provided key (SSE-C); it cannot"
            f" be copied without that key ({message})",
            status,
        )
    if code == "AccessControlListNotSupported":
        # Only a copier sends ACLs, to the destination, and only for a job's copy_acl.
        return PermanentError(
            code,
            "the destination bucket's Object Ownership is BucketOwnerEnforced (ACLs disabled);"
            " copy_acl needs ACLs enabled there (Object Ownership BucketOwnerPreferred or"
            f" ObjectWriter), or send the job without copy_acl ({message})",
            status,
        )
    return PermanentError(code, message, status)
