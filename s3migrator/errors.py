"""The error tree. Provider errors become these at the boundary (see copier.failures).

S3MigratorError
├── ConfigurationError     stack, settings or endpoint not usable
├── InvalidJobError        a job message that cannot be run (reported on the job record)
└── CopyError              one object could not be copied
    ├── TransientCopyError     worth retrying later (throttling, 5xx, timeouts, connections)
    └── PermanentCopyError     retrying cannot help (missing key, access denied, archived)
"""

from __future__ import annotations


class S3MigratorError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigurationError(S3MigratorError):
    pass


class InvalidJobError(S3MigratorError):
    pass


class CopyError(S3MigratorError):
    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class TransientCopyError(CopyError):
    pass


class PermanentCopyError(CopyError):
    pass
