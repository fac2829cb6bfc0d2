"""What ``s3migrator status --json`` and the status API report for a job."""

from __future__ import annotations

from pydantic import BaseModel

from s3migrator.models import FailureRecord, JobState, Mode, Phase
from s3migrator.selection import Tally


class QueueDepths(BaseModel):
    queue_visible: int = 0
    queue_in_flight: int = 0
    dlq_visible: int = 0


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

    @property
    def done(self) -> int:
        """Objects decided: copied, failed or (a sync's extras) deleted."""
        return self.objects_copied + self.objects_failed + self.objects_deleted
