"""A same-name migration's own part of a job: what its message must say, and where it stands.

A migration copies the source bucket to a temporary bucket in the destination's account and
region, deletes the source once the copy is verified, waits until S3 releases the name, creates
the bucket under that name where the destination says, copies back and removes the temporary
bucket. Each copy is an ordinary copy job of its own (``first_job``, ``second_job``); the
migration's record keeps the rest (``MigrationState``), so any run, after any crash, goes on
from the step recorded.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from s3migrator.locations import Location

if TYPE_CHECKING:
    from s3migrator.models import JobMessage

# A migration's job id leaves room for its two copy steps' (``{id}.1``, ``{id}.2``).
MAX_MIGRATION_ID_CHARS = 120
_TEMPORARY_MARK = "-s3m-tmp-"


def check_migration(job: JobMessage) -> None:
    """The rules of a migrate job message; ValueError with the reason when one is broken."""
    src, dst = job.source, job.destination
    if dst.bucket != src.bucket:
        raise ValueError(
            "a migration keeps the bucket's name: destination.bucket must be the source's"
            f" ({src.bucket!r}); to copy under another name, send a copy job"
        )
    if src.prefix or dst.prefix:
        raise ValueError("a migration moves a whole bucket: neither side takes a prefix")
    if (src.owner, src.region) == (dst.owner, dst.region):
        raise ValueError(
            "a migration moves a bucket to another account or region: give the destination"
            " its account_id (or role_arn) or region"
        )
    if job.sync or job.delete_extra:
        raise ValueError("a migration copies the whole bucket: sync and delete_extra do not apply")
    if job.versions == "all":
        raise ValueError(
            'versions "all" is not supported by migrations yet: a source with noncurrent'
            ' versions migrates only with "noncurrent_versions": "drop"'
        )
    if job.select.model_fields_set:
        raise ValueError("a migration moves every object: select does not apply")
    if job.manifest is not None:
        raise ValueError("a migration moves every object: it lists the bucket, not a manifest")
    if job.job_id is not None and len(job.job_id) > MAX_MIGRATION_ID_CHARS:
        raise ValueError(f"a migration's job_id takes at most {MAX_MIGRATION_ID_CHARS} characters")


def temporary_bucket(name: str, job_id: str) -> str:
    """The temporary bucket's name: the source's name cut short, and a mark of the job, so it
    is the same for every run of one job and unlike any other job's (at most 63 characters).

    >>> temporary_bucket("photos", "job-1")
    'photos-s3m-tmp-026ab639c21d'
    """
    stem = name[:38].rstrip(".-")
    return f"{stem}{_TEMPORARY_MARK}{hashlib.sha256(job_id.encode()).hexdigest()[:12]}"


class MigrationState(BaseModel):
    """Where a migration stands, beyond its phase: kept on its job record as JSON."""

    model_config = ConfigDict(extra="forbid")

    # The temporary bucket: the destination's account, role and region, under its own name.
    temporary: Location
    first_job: str
    second_job: str
    # The source bucket's configuration, read before it is deleted (``coordinator.bucket_config``).
    config: dict[str, Any] | None = None
    # What of the configuration could not be carried over, and what was rewritten.
    notes: list[str] = []
    # What the job message said: the source is deleted only when it confirms; the name is
    # waited for that long; noncurrent versions are dropped only when it says so.
    confirm_delete_source: bool = False
    name_wait_h: float = 72
    noncurrent_versions: Literal["keep", "drop"] = "keep"
    # A stopped migration goes on from this phase when resumed; ``catch_up``: its first copy
    # step runs again as a sync (objects written or changed meanwhile) under a new job id.
    stopped_at: str | None = None
    catch_up: bool = False
    # Where the source was (read at the start): a bucket of its name elsewhere is not it.
    source_region: str | None = None
    # This job created the bucket under the name (an earlier run that died may have); when
    # it last set out to (a bucket of the name made since, and empty, is its own).
    destination_created: bool = False
    claim_started_at: float | None = None
    # Waiting for the name: attempts so far, and when the job gives up.
    name_attempts: int = 0
    name_deadline: float | None = None
    last_name_error: str | None = None

    @classmethod
    def planned(cls, job_id: str, job: JobMessage) -> MigrationState:
        """A new migration's state, from its (bound) message."""
        destination = job.destination
        return cls(
            temporary=destination.model_copy(
                update={"bucket": temporary_bucket(destination.bucket, job_id)}
            ),
            first_job=f"{job_id}.1",
            second_job=f"{job_id}.2",
            confirm_delete_source=job.confirm_delete_source,
            name_wait_h=job.name_wait_h,
            noncurrent_versions=job.noncurrent_versions,
        )


def next_round(job_id: str) -> str:
    """The id of a copy step's next round: ``M.1`` → ``M.1.2`` → ``M.1.3``.

    >>> next_round("m.1"), next_round("m.1.2")
    ('m.1.2', 'm.1.3')
    """
    stem, _, last = job_id.rpartition(".")
    if stem.endswith(".1") and last.isdigit():
        return f"{stem}.{int(last) + 1}"
    return f"{job_id}.2"
