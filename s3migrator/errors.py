"""The error tree. Every error this project raises on purpose is one of these.

Provider errors (botocore's ``ClientError`` and ``BotoCoreError``) become ``OperationError``s in
one place, ``s3migrator.aws_errors.translate``; nothing else reads their codes.

S3MigratorError
├── UsageError                 the command line, or a file given to it, is not valid
├── ConfigurationError         no stack, endpoint or template; settings not usable
├── JobNotFoundError           no job has this id
├── InvalidJobError            a job that cannot be run; recorded on its job as ``failed``
│   └── InvalidJobMessageError     a queue message that is no valid job (``job_id`` set when
│                                  the message names a usable one)
├── LeaseLostError             another coordinator holds the job's listing lease now
└── OperationError             a request, or one object's copy, failed: code, message, HTTP status
    ├── TransientError             may succeed later: throttling, 5xx, timeouts, expired
    │   │                          credentials, DynamoDB transaction conflicts
    │   └── UnreachableError           no connection to the endpoint, or no credentials at all
    └── PermanentError             retrying cannot help
        ├── NotFoundError              no such bucket, key, policy, stack, queue (``missing``)
        ├── AccessDeniedError          refused by a policy, a KMS key or the credentials
        ├── ConditionFailedError       a conditional write or an S3 precondition did not hold
        ├── WrongRegionError           the bucket is in another region than the request was
        │                              signed for: S3 refused it (301, or 400 with its region)
        └── AlreadyExistsError         the name is taken (a bucket of another account)
            └── AlreadyOwnedError          ... by us: the bucket is already ours
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Missing(StrEnum):
    """What a NotFoundError says is not there."""

    BUCKET = "bucket"
    KEY = "key"
    VERSION = "version"
    UPLOAD = "upload"
    BUCKET_POLICY = "bucket policy"
    QUEUE = "queue"
    STACK = "stack"
    OTHER = "resource"


class S3MigratorError(Exception):
    """Base of every error this project raises on purpose."""


class UsageError(S3MigratorError):
    """The command line, or a file given to it, is not valid."""


class ConfigurationError(S3MigratorError):
    """No stack, endpoint or template where one is needed; settings that cannot work."""


class JobNotFoundError(S3MigratorError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class InvalidJobError(S3MigratorError):
    """A job that cannot be run; the coordinator records it as failed with this reason."""


class InvalidJobMessageError(InvalidJobError):
    """A queue message that is no valid job; ``job_id`` is set when it names a usable one."""

    def __init__(self, reason: str, job_id: str | None) -> None:
        super().__init__(reason)
        self.job_id = job_id


class LeaseLostError(S3MigratorError):
    """Another coordinator took over the job's listing (this one's lease had expired)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id}: the listing lease is held by another coordinator")
        self.job_id = job_id


class OperationError(S3MigratorError):
    """A request, or one object's copy, failed; ``code`` is the provider's code where known."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(code, message, http_status)
        self.code = code
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def about(self, what: str) -> Self:
        """The error with what it concerned in front of its message (``"the source ...: "``)."""
        self.message = f"{what}: {self.message}"
        return self


class TransientError(OperationError):
    """Worth retrying later."""


class UnreachableError(TransientError):
    """The endpoint could not be reached, or there were no credentials to sign with."""


class PermanentError(OperationError):
    """Retrying cannot help."""


class NotFoundError(PermanentError):
    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = None,
        missing: Missing = Missing.OTHER,
    ) -> None:
        super().__init__(code, message, http_status)
        self.missing = missing


class AccessDeniedError(PermanentError):
    pass


class ConditionFailedError(PermanentError):
    pass


class WrongRegionError(PermanentError):
    pass


class AlreadyExistsError(PermanentError):
    pass


class AlreadyOwnedError(AlreadyExistsError):
    pass
