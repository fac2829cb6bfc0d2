"""Job records: creation, reading (with the counters summed), state changes.

The coordinator's writes (lease, definitions, checkpoints, resumes) are ``listing.py``'s; the
batches and their counting are ``batches.py``'s, reached as ``JobStore.batches``.

Retention: a job's item carries ``expires_at`` (the table's TTL attribute) from the moment it
reaches a final state, ``retention_days`` after it ended; a redrive that reopens the job removes
it in the same write. Only the job's item expires. Its batches and counter shards carry no TTL:
they must live as long as the record (a redrive reads every batch's failures, the counts are the
shards' sums), the job's end is not known when they are written, and marking millions of
batches at the end would cost a write each. So they stay, and so does the job's id item
(``codec.id_key``), which keeps the id from naming a new job that would count them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import translated
from s3migrator.jobstore.batches import BatchStore, sum_shards
from s3migrator.jobstore.codec import (
    EXPIRES_AT,
    JOBS_INDEX,
    Item,
    expiry,
    id_key,
    job_item,
    job_key,
    job_record,
    n,
    page_start,
    page_token,
    s,
    shard_key,
)
from s3migrator.jobstore.listing import MAX_ERROR_CHARS, ListingWrites
from s3migrator.jobstore.migrations import MigrationWrites
from s3migrator.jobstore.uploads import UploadStore
from s3migrator.jobstore.writes import Clock
from s3migrator.models import CopySpec, JobRecord, JobState, Phase
from s3migrator.work import SHARDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_RUNNING = s(JobState.RUNNING.value)
# Settings.job_retention_days' default, for the stores built without settings.
RETENTION_DAYS = 90


@dataclass(frozen=True)
class JobIdsPage:
    """One page of the jobs index: ids oldest first, and the token for the next page (None
    when this page is the last)."""

    job_ids: list[str]
    next: str | None


class JobStore(ListingWrites):
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Clock = time.time,
        *,
        retention_days: int = RETENTION_DAYS,
    ) -> None:
        super().__init__(client, table_name, clock)
        self.batches = BatchStore(client, table_name, clock)
        self.migrations = MigrationWrites(client, table_name, clock)
        self.uploads = UploadStore(client, table_name, clock)
        self.retention_days = retention_days

    def spec_of(self, job_id: str) -> CopySpec | None:
        """The job's spec as recorded (one small read): what every batch of the job carries."""
        found = self._retried(
            lambda: self._ddb.get_item(
                TableName=self._table,
                Key=job_key(job_id),
                ProjectionExpression="spec",
                ConsistentRead=True,
            )
        ).get("Item", {})
        spec = found.get("spec", {}).get("S")
        return CopySpec.model_validate_json(spec) if spec else None

    def _update_job(
        self,
        job_id: str,
        expression: str,
        condition: str,
        values: Item,
        names: dict[str, str] | None = None,
    ) -> bool:
        return self._update(job_key(job_id), expression, condition, values, names)

    # --- job records ---------------------------------------------------------------------------

    def create_job(self, record: JobRecord) -> bool:
        """Write a new job record, and its id item; False when a job with this id exists or
        existed (its record expired). A record created final (a rejected job) expires too."""
        item = job_item(record)
        if record.finished_at is not None:
            item[EXPIRES_AT] = n(expiry(record.finished_at, self.retention_days))
        new = "attribute_not_exists(pk)"
        return self._transact(
            [
                {"Put": {"Item": item, "ConditionExpression": new}},
                {"Put": {"Item": id_key(record.job_id), "ConditionExpression": new}},
            ]
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job as it stands now, its counters summed from the shards. The job item and its
        shards are read at one moment: shards read apart could show a batch's remainder counted
        and not the batch, and a job would be finished on counts that never were."""
        shards = [shard_key(job_id, shard) for shard in range(SHARDS)]
        item, *counted = self._read_together([job_key(job_id), *shards])
        if not item:
            return None
        record = job_record(item)
        counters = sum_shards(shard for shard in counted if shard)
        record.counters = counters.model_copy(
            update={"batches_extra": record.counters.batches_extra}
        )
        return record

    def _jobs_query(self) -> dict[str, Any]:
        """The query of the jobs index, oldest first: each job's id and its place in it."""
        return {
            "TableName": self._table,
            "IndexName": JOBS_INDEX,
            "KeyConditionExpression": "#kind = :job",
            "ExpressionAttributeNames": {"#kind": "kind", "#created": "created_at"},
            "ExpressionAttributeValues": {":job": s("job")},
            "ProjectionExpression": "job_id, #created",
        }

    def job_ids(self) -> list[str]:
        """Every job's id, oldest first, from the index (which lags behind writes)."""
        return self._ids_of(self._jobs_query())

    def jobs_to_refresh(self, ended_since: float | None = None) -> list[str]:
        """The ids of the jobs a progress run has work for, oldest first, from the index: the
        running ones, the finished ones whose completion report is due, and (``ended_since``)
        those that ended since then. The index holds the whole job item, so the query alone
        tells them apart; a finished job's counters are never read for it."""
        kwargs = self._jobs_query()
        wanted = "#state = :running OR report_due <= :now"
        values: Item = {":running": _RUNNING, ":now": n(self._clock())}
        if ended_since is not None:
            wanted += " OR finished_at >= :since"
            values[":since"] = n(ended_since)
        kwargs["FilterExpression"] = wanted
        kwargs["ExpressionAttributeNames"]["#state"] = "state"
        kwargs["ExpressionAttributeValues"].update(values)
        return self._ids_of(kwargs)

    def _ids_of(self, kwargs: dict[str, Any]) -> list[str]:
        """The job ids a query of the jobs index (``_jobs_query``'s) finds, every page of it."""
        ids: list[str] = []
        while True:
            with translated():
                page = self._ddb.query(**kwargs)
            ids.extend(item["job_id"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def job_page(self, limit: int, after: str | None = None) -> JobIdsPage:
        """Up to ``limit`` job ids, oldest first, after the place ``after`` names (the ``next``
        of the page before; UsageError for any other string)."""
        if limit < 1:
            raise ValueError(f"a page holds at least one job, not {limit}")
        kwargs = self._jobs_query()
        if after is not None:
            kwargs["ExclusiveStartKey"] = page_start(after)
        items: list[dict[str, Any]] = []
        # One job more than the page holds, so that a page ending at the last job says so
        # rather than sending the client to an empty page.
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            with translated():
                page = self._ddb.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        shown = items[:limit]
        return JobIdsPage(
            job_ids=[item["job_id"]["S"] for item in shown],
            next=page_token(shown[-1]) if len(items) > limit else None,
        )

    def list_jobs(self) -> list[JobRecord]:
        """Every job, oldest first, each read as it stands."""
        return [record for job_id in self.job_ids() if (record := self.get_job(job_id)) is not None]

    def reopen(self, job_id: str, epoch: int, extra_batches: int, base_done: int) -> bool:
        """Reopen a job that completed with failures for a redrive's ``extra_batches``, only if
        it is still the run (``epoch``) the redrive read: two redrives never both reopen it.

        Its batches are then to be sent (``redrive_sent`` false): if the redrive dies before it
        has sent them, the watchdog finds the job needing a coordinator once ``resume_due`` (now)
        is past its grace, and a coordinator sends them."""
        return self._update_job(
            job_id,
            "SET #state = :running, #phase = :redriving, #percent = :start, updated_at = :now,"
            " redrive_base = :base, redrive_sent = :false, resume_due = :now, resumes = :zero"
            # Running again, it must not expire: DynamoDB would delete it under the redrive.
            " REMOVE finished_at, #error, report_due, report_url, expires_at"
            " ADD batches_extra :extra, epoch :one",
            "#state = :with_failures AND (epoch = :epoch OR (attribute_not_exists(epoch)"
            " AND :epoch = :zero))",
            {
                ":running": _RUNNING,
                ":redriving": s(Phase.REDRIVING.value),
                ":start": n(6),
                ":with_failures": s(JobState.COMPLETED_WITH_FAILURES.value),
                ":now": n(self._clock()),
                ":extra": n(extra_batches),
                ":one": n(1),
                ":base": n(base_done),
                ":epoch": n(epoch),
                ":zero": n(0),
                ":false": {"BOOL": False},
            },
            {"#state": "state", "#phase": "phase", "#error": "error", "#percent": "percent"},
        )

    def redrive_sent(self, job_id: str, epoch: int) -> bool:
        """Note that every batch of the running redrive (``epoch``) has been sent."""
        return self._update_job(
            job_id,
            "SET redrive_sent = :true",
            "#state = :running AND epoch = :epoch",
            {":true": {"BOOL": True}, ":running": _RUNNING, ":epoch": n(epoch)},
            {"#state": "state"},
        )

    # --- state changes -------------------------------------------------------------------------

    def set_phase(self, job_id: str, token: str, epoch: int, before: Phase, after: Phase) -> bool:
        """Move a running job from ``before`` to ``after`` for the run holding the lease
        (``token``) in ``epoch``; False when the job is no longer as that run read it (it
        finished, was reopened, or moved on), so a stale run never sets a phase back."""
        return self._update_job(
            job_id,
            "SET #phase = :after, updated_at = :now",
            "#state = :running AND #phase = :before AND lease_owner = :me"
            " AND (epoch = :epoch OR (attribute_not_exists(epoch) AND :epoch = :zero))",
            {
                ":after": s(after.value),
                ":before": s(before.value),
                ":me": s(token),
                ":epoch": n(epoch),
                ":zero": n(0),
                ":now": n(self._clock()),
                ":running": _RUNNING,
            },
            {"#state": "state", "#phase": "phase"},
        )

    def set_percent(self, job_id: str, percent: int, epoch: int) -> bool:
        """Store a running job's percent for the run (``epoch``) it was computed in, only
        upwards; False when the job is no longer running, was reopened, or shows more."""
        return self._update_job(
            job_id,
            "SET #percent = :percent",
            "#state = :running AND #percent < :percent"
            " AND (epoch = :epoch OR (attribute_not_exists(epoch) AND :epoch = :zero))",
            {":percent": n(percent), ":running": _RUNNING, ":epoch": n(epoch), ":zero": n(0)},
            {"#state": "state", "#percent": "percent"},
        )

    def finish(
        self,
        job_id: str,
        state: JobState,
        percent: int,
        error: str | None = None,
        *,
        epoch: int,
        report: bool = False,
        unleased: bool = False,
        leased_by: str | None = None,
    ) -> bool:
        """Move a running job to a final state; False if it had already finished, or if it was
        reopened since it was read (``epoch``: the run the caller read), or (``unleased``) if a
        coordinator holds it now, or (``leased_by``) if that run no longer holds it. With
        ``report``, its completion report becomes due (``JobRecord.report_due``). The job's
        item expires ``retention_days`` from now."""
        now = self._clock()
        values: Item = {
            ":state": s(state.value),
            ":phase": s(Phase.FINISHED.value),
            ":percent": n(percent),
            ":now": n(now),
            ":running": _RUNNING,
            ":expires": n(expiry(now, self.retention_days)),
        }
        names = {"#state": "state", "#phase": "phase", "#percent": "percent"}
        expression = (
            "SET #state = :state, #phase = :phase, #percent = :percent,"
            " finished_at = :now, updated_at = :now, expires_at = :expires"
        )
        if report:
            expression += ", report_due = :now"
        if error is not None:
            expression += ", #error = :error"
            values[":error"] = s(error)
            names["#error"] = "error"
        condition = (
            "#state = :running"
            " AND (epoch = :epoch OR (attribute_not_exists(epoch) AND :epoch = :zero))"
        )
        values[":epoch"] = n(epoch)
        values[":zero"] = n(0)
        if unleased:
            condition += " AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        if leased_by is not None:
            condition += " AND lease_owner = :me"
            values[":me"] = s(leased_by)
        return self._update_job(job_id, expression, condition, values, names)

    # --- completion reports --------------------------------------------------------------------

    def claim_report(self, job_id: str, seen_due: float, due: float) -> bool:
        """Who sends the report message for a due report: only if no one else did since
        ``seen_due`` was read; the next is due at ``due`` if this one goes astray."""
        return self._update_job(
            job_id,
            "SET report_due = :due",
            "report_due = :seen",
            {":due": n(due), ":seen": n(seen_due)},
        )

    def report_written(self, job_id: str, epoch: int, url: str) -> bool:
        """Record the written report, if it is still due for that run (``epoch``)."""
        return self._update_job(
            job_id,
            "SET report_url = :url REMOVE report_due",
            "attribute_exists(report_due) AND epoch = :epoch AND #state <> :running",
            {":url": s(url), ":epoch": n(epoch), ":running": _RUNNING},
            {"#state": "state"},
        )

    def report_refused(self, job_id: str, epoch: int, error: str) -> bool:
        """Give a report S3 refuses for good up, saying why (``error``) on the job."""
        return self._update_job(
            job_id,
            "SET #error = :error REMOVE report_due",
            "attribute_exists(report_due) AND epoch = :epoch AND #state <> :running",
            {
                ":error": s(error[:MAX_ERROR_CHARS]),
                ":epoch": n(epoch),
                ":running": _RUNNING,
            },
            {"#state": "state", "#error": "error"},
        )
