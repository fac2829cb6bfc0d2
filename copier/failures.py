"""Failure classification at the botocore boundary: one pure function decides transient or not.

botocore's retry mode has already retried throttling and 5xx errors by the time an error reaches
here; what is still transient is retried later through SQS redelivery with backoff.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from s3migrator.errors import CopyError, PermanentCopyError, TransientCopyError

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "ExpiredToken",
        "TokenRefreshRequired",
    }
)
_BODYLESS_CODES = {"404": "NoSuchKey", "403": "AccessDenied", "412": "PreconditionFailed"}
# The source object changed since it was listed: handled as its own case by the copier.
CHANGED_CODES = frozenset({"PreconditionFailed"})


def classify(exc: Exception) -> CopyError:
    """Turn a provider error into a transient or permanent copy error."""
    if isinstance(exc, CopyError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        # HEAD responses have no body, so botocore reports the bare status as the code.
        code = _BODYLESS_CODES.get(code, code)
        message = str(error.get("Message", "")) or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        status = int(status) if status is not None else None
        if code in TRANSIENT_CODES or (status is not None and status >= 500):
            return TransientCopyError(code, message, status)
        if code == "InvalidRequest" and "Server Side Encryption" in message:
            return PermanentCopyError(
                "SSECustomerKeyRequired",
                "the source object is encrypted with a customer-provided key (SSE-C); it cannot"
                f" be copied without that key ({message})",
                status,
            )
        return PermanentCopyError(code, message, status)
    if isinstance(exc, ConnectionError | HTTPClientError | BotoCoreError):
        return TransientCopyError(type(exc).__name__, str(exc))
    return PermanentCopyError(type(exc).__name__, str(exc))
