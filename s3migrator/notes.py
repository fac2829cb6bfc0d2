"""The stack's own notes to a coordinator on the jobs queue (a job message is the user's)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from s3migrator.names import JOB_ID_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResumeMessage(_Strict):
    """The stack's own note to a coordinator: take up this job where its checkpoint stands.

    Sent when a coordinator stops (or fails) before a job's listing is done, and by the progress
    function for a job nobody holds, so a job never depends on its first message surviving.
    Example: ``{"resume": "job-1"}``.
    """

    resume: Annotated[str, Field(pattern=JOB_ID_PATTERN)]


class ReportMessage(_Strict):
    """The stack's own note to a coordinator: write this finished job's completion report.

    Sent by the progress function once the job has finished (and again while the report is
    due), so the report is streamed by a process without a Lambda's limits. Example:
    ``{"report": "job-1"}``.
    """

    report: Annotated[str, Field(pattern=JOB_ID_PATTERN)]


class RedriveMessage(_Strict):
    """A user's request, relayed to a coordinator: send this job's failed objects back to work
    (``s3migrator redrive`` does it itself; the dashboard asks the coordinator). Its sender is
    checked as a job message's is. Example: ``{"redrive": "job-1"}``.
    """

    redrive: Annotated[str, Field(pattern=JOB_ID_PATTERN)]


class CancelMessage(_Strict):
    """A user's request, relayed to a coordinator: stop this migration at its next safe point
    (``s3migrator cancel`` does it itself; the dashboard asks the coordinator). Its sender is
    checked as a job message's is. Example: ``{"cancel": "job-1"}``.
    """

    cancel: Annotated[str, Field(pattern=JOB_ID_PATTERN)]
