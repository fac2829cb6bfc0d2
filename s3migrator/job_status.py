"""What ``s3migrator status --json`` and the status API report for a job."""

from __future__ import annotations

from pydantic import BaseModel

from s3migrator.failures import FailureRecord
from s3migrator.models import JobState, Mode, Phase
from s3migrator.selection import Tally


class QueueDepths(BaseModel):
    queue_visible: int = 0
    queue_in_flight: int = 0
    dlq_visible: int = 0


class MigrationView(BaseModel):
    """Where a same-name migration stands beyond its phase: its temporary bucket, the copy
    step it follows (a job of its own), its attempts at the name, why it stopped."""

    temporary: str
    copy_step: str
    name_attempts: int = 0
    last_name_error: str | None = None
    name_deadline: float | None = None
    stopped_at: str | None = None
    cancel_requested: bool = False
    notes: list[str] = []


class JobStatus(BaseModel):
    """What ``s3migrator status --json`` prints for one job."""

    job_id: str
    mode: Mode | None
    state: JobState
    phase: Phase
    percent: int
    source: str
    destination: str
    objects_total: int
    objects_copied: int
    objects_failed: int
    objects_deleted: int = 0
    # Copies S3's answer verified (their ETag the source's), of objects_copied.
    objects_verified: int = 0
    # What the listing left out: filtered, archived, unchanged (sync), extra at the destination.
    skipped: Tally = Tally()
    bytes_total: int
    bytes_copied: int
    enumeration_complete: bool
    queue_visible: int
    queue_in_flight: int
    dlq_visible: int
    error: str | None = None
    first_failures: list[FailureRecord] = []
    created_at: float
    finished_at: float | None = None
    # The completion report: "pending" until a coordinator has written it, then its URL.
    report: str | None = None
    # Who sent the job: the SQS SenderId of its message (a role's or user's unique id).
    sender: str | None = None
    # A same-name migration's own figures (None for a copy job).
    migration: MigrationView | None = None

    @property
    def done(self) -> int:
        """Objects decided: copied, failed or (a sync's extras) deleted."""
        return self.objects_copied + self.objects_failed + self.objects_deleted
