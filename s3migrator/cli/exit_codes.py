"""Exit codes of every ``s3migrator`` command, for scripts (documented in the README).

| code | meaning |
|------|---------|
| 0    | done: the job succeeded (or is still running, for a one-shot ``status``) |
| 1    | a job failed or completed with failures; ``verify`` found differences; ``check``
|      | found missing access; a request the tool refused (redrive of a running job, ...) |
| 2    | usage: a bad option, argument or job file |
| 3    | no stack, endpoint or credentials to work with |
| 4    | no job with this id |
| 5    | an AWS request failed (denied, throttled, ...) |
| 130  | interrupted (Ctrl-C) |
"""

from __future__ import annotations

from enum import IntEnum

from s3migrator.errors import (
    ConfigurationError,
    JobNotFoundError,
    OperationError,
    UnreachableError,
    UsageError,
)
from s3migrator.models import JobState


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NO_STACK = 3
    NO_JOB = 4
    AWS_ERROR = 5
    INTERRUPTED = 130


def exit_code_for(error: Exception) -> ExitCode:
    """The exit code for an error that ends a command."""
    if isinstance(error, UsageError):
        return ExitCode.USAGE
    if isinstance(error, ConfigurationError | UnreachableError):
        return ExitCode.NO_STACK
    if isinstance(error, JobNotFoundError):
        return ExitCode.NO_JOB
    if isinstance(error, OperationError):
        return ExitCode.AWS_ERROR
    return ExitCode.FAILED


def exit_code_of_jobs(states: list[JobState]) -> ExitCode:
    """0 while every job succeeded or still runs; 1 when any failed or completed with failures."""
    bad = (JobState.FAILED, JobState.COMPLETED_WITH_FAILURES)
    return ExitCode.FAILED if any(state in bad for state in states) else ExitCode.OK
