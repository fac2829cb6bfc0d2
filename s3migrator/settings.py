"""Settings for every process, read once in the entrypoint from ``S3MIGRATOR_*`` variables.

Durations carry their unit in the name. Nothing here is read at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024**2
GiB = 1024**3


SETTINGS_PREFIX = "S3MIGRATOR_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=SETTINGS_PREFIX, extra="ignore")

    stack_name: str = "s3migrator"
    # Resolved from the stack's outputs when unset; Fargate tasks receive them as variables.
    jobs_queue_url: str | None = None
    jobs_dlq_url: str | None = None
    work_queue_url: str | None = None
    work_dlq_url: str | None = None
    table_name: str | None = None
    # The ECS cluster and copier service, for the progress function's running-copier count.
    cluster: str | None = None
    copier_service: str | None = None

    # Who may start a job, and what a job may touch (see SECURITY.md).
    # Principals whose job messages are accepted, comma-separated (the stack's JobSubmitters):
    # IAM role or user ARNs of the stack's account, or unique ids (AROA..., AIDA...).
    job_submitters: str = ""
    # Unique ids of the stack's own relays (its progress function's role, which sends what the
    # dashboard's callers ask for): their messages are checked by the original sender they
    # carry, which must be a job submitter; without one they are refused.
    job_relays: str = ""
    # Accounts whose buckets a job may read or write, comma-separated; empty means the stack's
    # own account alone (the stack's AllowedAccounts).
    allowed_accounts: str = ""
    # External ids for the roles jobs assume, as JSON {"role ARN": "external id"}: the stack's
    # configuration, never the job message.
    external_ids: str = "{}"
    # A job's record is deleted (DynamoDB TTL) this many days after the job ends.
    job_retention_days: int = Field(default=90, ge=1, le=3650)

    # Coordinator: batching and lease.
    batch_max_keys: int = Field(default=1000, ge=1, le=10_000)
    # What one batch may copy in all, and the size from which an object travels alone: a batch
    # must be done well within SQS's 12-hour visibility, whatever its objects weigh.
    batch_max_object_bytes: int = Field(default=64 * GiB, ge=MiB)
    solo_object_bytes: int = Field(default=5 * GiB, ge=MiB)
    # At most SQS's long-standing 256 KiB cap: a batch that carries its items (a remainder, a
    # redrive's) keeps them in one DynamoDB item, which holds 400 KB.
    message_max_bytes: int = Field(default=256 * 1024, ge=4 * 1024, le=256 * 1024)
    lease_s: int = Field(default=120, ge=5)
    # The listing waits while the work queue holds this many batches (queued or in flight),
    # looking again every backlog_poll_s: it never runs days ahead of the copiers.
    max_backlog_batches: int = Field(default=2000, ge=10)
    backlog_poll_s: float = Field(default=10.0, gt=0)
    # A job whose source holds more than listing_shard_min_keys keys (under its prefix) when
    # its listing starts is split into at most listing_shards key ranges, listed by
    # listing_threads threads of one run at once; smaller ones keep one listing chain. At most
    # 64 shards: finishing the listing checks every shard in one transaction (100 items).
    listing_shards: int = Field(default=32, ge=1, le=64)
    listing_shard_min_keys: int = Field(default=10_000, ge=1)
    # No more than a client's connection pool (10) holds.
    listing_threads: int = Field(default=8, ge=1, le=10)
    jobs_visibility_s: int = Field(default=60, ge=5, le=43_200)
    # A job that needs a coordinator and has had this many resumes in a row without its
    # listing moving fails with the last error; a resume is sent again after this grace.
    max_resumes: int = Field(default=10, ge=1, le=1000)
    resume_grace_s: int = Field(default=300, ge=10)

    # Copier: concurrency, copy planning and SQS handling.
    # Copies in flight per copier: a copy mostly waits on S3, and with fewer than 32 one copier
    # fell below a plain 32-thread loop's rate in `make bench` (0.92-0.96 of it; 1.01-1.08 at 32).
    copy_concurrency: int = Field(default=32, ge=1, le=256)
    part_concurrency: int = Field(default=10, ge=1, le=256)
    # Batches a copier holds at once; few, so that a copier that dies strands little work.
    messages_in_flight: int = Field(default=2, ge=1, le=10)
    multipart_threshold_bytes: int = Field(default=5 * GiB - MiB, ge=5 * MiB, le=5 * GiB)
    # Small objects' CopyObject signed and sent by the copy thread itself rather than by
    # botocore's send path (copier.direct_copies): less CPU per object, the same requests.
    direct_copies: bool = True
    part_size_bytes: int = Field(default=256 * MiB, ge=5 * MiB, le=5 * GiB)
    # From this size an object's parts are copied by many copiers at once: its upload is
    # started once, and its parts go out as part batches of up to part_batch_bytes each.
    split_object_bytes: int = Field(default=64 * GiB, ge=MiB)
    part_batch_bytes: int = Field(default=8 * GiB, ge=5 * MiB)
    # A held batch stays invisible this long and is extended every third of it: a dead
    # copier's batches are back in play within it.
    work_visibility_s: int = Field(default=30, ge=5, le=43_200)
    wait_time_s: int = Field(default=20, ge=0, le=20)
    # Assumed-role sessions: one hour (the cap for a role chained from a task role), renewed
    # when less than the margin is left (15 minutes at least: one copy can take that long).
    role_session_s: int = Field(default=3600, ge=900, le=43_200)
    refresh_margin_s: int = Field(default=900, ge=60)
    # Deliveries after which an object still failing transiently is reported failed.
    max_item_attempts: int = Field(default=5, ge=1, le=100)
    # Objects that failed transiently go on in a remainder batch after a backoff from this
    # base, doubling per attempt, at most SQS's 15-minute delay.
    retry_delay_base_s: float = Field(default=5.0, ge=0)
    # A batch copied for longer than this is claimed in the job table (and the claim renewed as
    # long again), so no other copier copies it and the dead-letter sweep leaves it alone, even
    # past SQS's 12-hour visibility cap.
    claim_after_s: float = Field(default=3600.0, gt=0)
    # Objects waiting for their restore are looked at again this often, this many times (the
    # default: every 15 minutes for 48 hours, Deep Archive's bulk restore).
    restore_poll_s: int = Field(default=900, ge=0, le=900)
    # How often a migration looks at its running copy step (a delayed message to itself), and
    # its first wait for a bucket name still taken (then doubling, up to 15 minutes).
    migration_poll_s: int = Field(default=60, ge=0, le=900)
    max_restore_waits: int = Field(default=192, ge=1)
    # On SIGTERM, how long to finish held batches before releasing them (ECS waits 30 s).
    stop_grace_s: float = Field(default=25.0, ge=0)
    retry_mode: str = Field(default="adaptive", pattern="^(legacy|standard|adaptive)$")
    # Attempts per request in all, the first included (botocore total_max_attempts).
    max_attempts: int = Field(default=8, ge=1, le=50)
    # A copier started with --exit-when-idle stops after this many seconds without work.
    idle_exit_s: float = Field(default=0.0, ge=0)
