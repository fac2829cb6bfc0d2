"""Wire models: every payload that crosses a process boundary is parsed here, at the edge.

``JobMessage`` is the public contract (published by ``s3migrator schema``); ``JobRecord`` is the
job's row in DynamoDB; ``JobStatus`` is what ``s3migrator status --json`` and the progress
function report. What copiers work on (``WorkBatch``) is in ``work.py``.
"""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from s3migrator.errors import InvalidJobMessageError
from s3migrator.job_options import JobOptions, RestoreRequest
from s3migrator.locations import RETIRED_FIELDS, Location, ReportLocation
from s3migrator.migration_state import MigrationState, check_migration
from s3migrator.names import (
    JOB_ID_PATTERN,
    JOB_ID_RE,
    MAX_KEY_BYTES,
    ROLE_ARN_PATTERN,
    split_s3_url,
)
from s3migrator.selection import ListingPlan, Manifest, Selection, Tally

# Re-exported: the models' users import the names a message is checked against from here.
__all__ = [
    "JOB_ID_PATTERN",
    "MAX_KEY_BYTES",
    "ROLE_ARN_PATTERN",
    "JobOptions",
    "Location",
    "ReportLocation",
    "split_s3_url",
]
MAX_REASON_CHARS = 2000


def explain(exc: ValidationError) -> str:
    """A validation error on one line: ``source.bucket: invalid bucket name 'X'; ...``."""
    reasons = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "message"
        message = error["msg"].removeprefix("Value error, ")
        reasons.append(f"{where}: {message}")
    return "; ".join(reasons)[:MAX_REASON_CHARS]


class Mode(StrEnum):
    COPY = "copy"
    # Keep the bucket's name in another account or region (``s3migrator.migration_state``).
    MIGRATE = "migrate"


class Overwrite(StrEnum):
    """What a job does with a destination key that already exists."""

    # Never replace it (S3's conditional write): an object this job copied before counts as
    # copied, anything else is a DestinationExists failure in the report.
    NEVER = "never"
    # Replace it unless it already holds the same object (size and ETag).
    IF_DIFFERENT = "if-different"
    ALWAYS = "always"


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"

    @property
    def is_final(self) -> bool:
        return self is not JobState.RUNNING


class Phase(StrEnum):
    """Steps of a job, in order; the percent table maps each to a range (see s3migrator.percent)."""

    STARTED = "started"
    # The destination did not exist: it is being created.
    CREATING_BUCKET = "creating_bucket"
    # This job created the destination: it is being hardened (again, by a run that resumes).
    BUCKET_CREATED = "bucket_created"
    DESTINATION_READY = "destination_ready"
    COPYING = "copying"
    # A redrive reopened the job: its failed objects are being copied again.
    REDRIVING = "redriving"
    # A migration's steps (its copies are copy jobs of their own).
    TEMPORARY_READY = "temporary_bucket_ready"
    COPYING_TO_TEMPORARY = "copying_to_temporary"
    DELETING_SOURCE = "deleting_source"
    WAITING_FOR_NAME = "waiting_for_name"
    DESTINATION_CREATED = "destination_created"
    COPYING_BACK = "copying_back"
    REMOVING_TEMPORARY = "removing_temporary"
    FINISHED = "finished"

    @property
    def copies(self) -> bool:
        """Batches are being copied and counted: the job ends when every one is."""
        return self in (Phase.COPYING, Phase.REDRIVING)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobMessage(_Strict):
    """A request to copy every object under ``source`` into ``destination``.

    Example: ``{"mode": "copy", "source": {"bucket": "src"}, "destination": {"bucket": "dst"}}``.
    Sending the same ``job_id`` twice never starts a second job.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, title="s3migrator job message")

    job_id: Annotated[str | None, Field(pattern=JOB_ID_PATTERN)] = None
    mode: Mode
    source: Location
    destination: Location
    options: JobOptions = JobOptions()
    report: ReportLocation | None = None
    overwrite: Overwrite = Overwrite.NEVER
    # Which objects the listing enqueues (see ``s3migrator.selection``).
    select: Selection = Selection()
    sync: bool = False
    delete_extra: bool = False
    archived: Literal["skip", "copy", "restore"] = "skip"
    # With archived "restore" (implied when given): how each archived object is restored.
    restore: RestoreRequest | None = None
    versions: Literal["current", "all"] = "current"
    # The keys to copy, from a CSV or an S3 Inventory report instead of a listing.
    manifest: Manifest | None = None
    # A migration deletes the source bucket only when its message says so; it waits this long
    # for the name; and it drops noncurrent versions only when told.
    confirm_delete_source: bool = False
    name_wait_h: float = Field(default=72, gt=0, le=720)
    noncurrent_versions: Literal["keep", "drop"] = "keep"

    @model_validator(mode="after")
    def _migration_holds(self) -> JobMessage:
        if self.mode is Mode.MIGRATE:
            check_migration(self)
        return self

    @model_validator(mode="after")
    def _sync_replaces_what_changed(self) -> JobMessage:
        """A sync copies objects that changed since the last run over their older copies: its
        overwrite rule is ``if-different`` unless the job says ``always``."""
        if self.sync and "overwrite" not in self.model_fields_set:
            object.__setattr__(self, "overwrite", Overwrite.IF_DIFFERENT)  # frozen model
        elif self.sync and self.overwrite is Overwrite.NEVER:
            raise ValueError(
                'a sync replaces objects that changed: its overwrite rule is "if-different"'
                ' (the default for a sync) or "always", not "never"'
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_retired_fields(cls, data: Any) -> Any:
        for side in ("source", "destination"):
            given = data.get(side) if isinstance(data, dict) else None
            for name in RETIRED_FIELDS:
                if isinstance(given, dict) and given.get(name) is not None:
                    raise ValueError(
                        f"{side}.{name} is not part of a job: external ids are the stack's"
                        " configuration (RoleExternalIds), and the tool names each role"
                        " session after its job"
                    )
        return data

    @model_validator(mode="after")
    def _not_overlapping(self) -> JobMessage:
        src, dst = self.source, self.destination
        if (
            src.bucket == dst.bucket
            and self.mode is not Mode.MIGRATE
            and (src.prefix.startswith(dst.prefix) or dst.prefix.startswith(src.prefix))
        ):
            raise ValueError("source and destination overlap in the same bucket")
        report = self.report
        if (
            report is not None
            and report.bucket == dst.bucket
            and (report.prefix.startswith(dst.prefix) or dst.prefix.startswith(report.prefix))
        ):
            raise ValueError(
                "the report location overlaps the destination: a report could take the place"
                " of a copied object"
            )
        return self

    @model_validator(mode="after")
    def _restore_when_asked(self) -> JobMessage:
        if self.restore is not None and "archived" not in self.model_fields_set:
            object.__setattr__(self, "archived", "restore")  # frozen model
        elif self.restore is not None and self.archived != "restore":
            raise ValueError('restore goes with "archived": "restore"')
        elif self.archived == "restore" and self.restore is None:
            object.__setattr__(self, "restore", RestoreRequest())
        return self

    @model_validator(mode="after")
    def _plan_holds(self) -> JobMessage:
        self.listing_plan()  # its own rules (delete_extra needs sync)
        return self

    def listing_plan(self) -> ListingPlan:
        return ListingPlan(
            select=self.select,
            sync=self.sync,
            delete_extra=self.delete_extra,
            archived=self.archived,
            versions=self.versions,
            manifest=self.manifest,
        )

    def with_id(self) -> JobMessage:
        """The same message with a job id, generated when the client gave none."""
        return self if self.job_id else self.model_copy(update={"job_id": uuid.uuid4().hex})

    @classmethod
    def parse(cls, body: str) -> JobMessage:
        """Parse a message body; raises InvalidJobMessageError with a one-line reason.

        The error carries the message's ``job_id`` when it names a usable one, so that a bad
        message with an id can be recorded as a failed job under that id.
        """
        try:
            data: Any = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidJobMessageError(f"not JSON: {exc}", None) from exc
        raw_id = data.get("job_id") if isinstance(data, dict) else None
        job_id = raw_id if isinstance(raw_id, str) and JOB_ID_RE.fullmatch(raw_id) else None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidJobMessageError(
                f"invalid job message: {explain(exc)}"[:MAX_REASON_CHARS], job_id
            ) from exc


class CopySpec(_Strict):
    """What a copier needs to know about a job, carried in every batch so no lookup is needed."""

    job_id: str
    source: Location
    destination: Location
    options: JobOptions = JobOptions()
    overwrite: Overwrite = Overwrite.NEVER
    # Who sent the job (the SQS SenderId of its message): the source identity of every role
    # session the job assumes, so CloudTrail shows who started what.
    sender: str | None = None
    # How archived objects are restored before they are copied (archived "restore").
    restore: RestoreRequest | None = None

    def destination_key(self, source_key: str) -> str:
        return self.destination.prefix + source_key[len(self.source.prefix) :]


class ListingCheckpoint(BaseModel):
    """Where the coordinator's listing stands: the batches defined so far, and the first of
    the last group defined, which may not have reached the work queue yet."""

    start_after: str | None = None
    next_seq: int = 0
    objects: int = 0
    bytes: int = 0
    complete: bool = False
    group_start: int = 0
    # What the listing left out up to ``start_after`` (everything, once complete).
    tally: Tally = Tally()


class Counters(BaseModel):
    """Exact per-job counters: the sum of the job's counter shards, one write per batch."""

    objects_copied: int = 0
    objects_failed: int = 0
    # Destination objects a sync deleted (``delete_extra``).
    objects_deleted: int = 0
    # Copies S3's answer verified as they were made (their ETag the source's).
    objects_verified: int = 0
    bytes_copied: int = 0
    batches_done: int = 0
    # Batches defined by counting others (remainders of transient failures, replacements).
    batches_spawned: int = 0
    # Batches sent after the listing (redrives); on the job item, not in the shards.
    batches_extra: int = 0

    @property
    def done(self) -> int:
        return self.objects_copied + self.objects_failed + self.objects_deleted


# How much earlier than its due time a resume is still taken: the clocks of the hosts that write
# and read it differ by far less. Shorter backoffs (the first three) are not protected.
RESUME_SKEW_S = 30.0


class JobRecord(BaseModel):
    """The job's row in DynamoDB."""

    job_id: str
    # Both absent only on a rejected job: a message with a usable id but no valid job.
    mode: Mode | None
    spec: CopySpec | None
    report: ReportLocation | None = None
    # What the listing enqueues; None for a job recorded before plans (everything).
    plan: ListingPlan | None = None
    state: JobState = JobState.RUNNING
    phase: Phase = Phase.STARTED
    percent: int = 0
    error: str | None = None
    created_at: float
    updated_at: float
    finished_at: float | None = None
    listing: ListingCheckpoint = ListingCheckpoint()
    counters: Counters = Counters()
    # Runs of the job: 0 for its first, one more for each redrive (which reopens it).
    epoch: int = 0
    # Batches counted when the last redrive reopened the job (its percent starts from there).
    redrive_base: int = 0
    # False from the reopen until every batch of the redrive has been sent.
    redrive_sent: bool = True
    # Who lists the job: a coordinator's run holds the lease until ``lease_until``.
    lease_until: float = 0.0
    # A resume message is on its way, due at this time; resumes since the listing last moved.
    resume_due: float | None = None
    resumes: int = 0
    last_error: str | None = None
    # The completion report: due (a message on its way, or sent again then) until written.
    report_due: float | None = None
    report_url: str | None = None
    # A migration's steps beyond its phase; a cancel apart, so no step's write undoes it.
    migration: MigrationState | None = None
    cancel_requested: bool = False

    def resume_is_early(self, now: float) -> bool:
        """A resume that comes before the one due (beyond the clocks' skew) is not the stack's:
        the due one, or the watchdog, takes the job up. A cancel's is taken up at once."""
        due = self.resume_due
        return not self.cancel_requested and due is not None and due > now + RESUME_SKEW_S

    @property
    def sender(self) -> str | None:
        return self.spec.sender if self.spec else None

    @property
    def needs_coordinator(self) -> bool:
        """Running, and its destination is not ready, its listing not complete, or its
        redrive's batches not all sent."""
        return (
            self.state is JobState.RUNNING
            and self.spec is not None
            and (
                self.mode is Mode.MIGRATE  # a migration's coordinator drives it to its end
                or not (self.phase.copies and self.listing.complete and self.redrive_sent)
            )
        )
