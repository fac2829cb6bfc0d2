"""Job records: creation, reading (with the counters summed), state changes.

The coordinator's writes (lease, definitions, checkpoints, resumes) are ``listing.py``'s; the
batches and their counting are ``batches.py``'s, reached as ``JobStore.batches``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import translated
from s3migrator.jobstore.batches import BatchStore, sum_shards
from s3migrator.jobstore.codec import (
    JOBS_INDEX,
    Item,
    job_item,
    job_key,
    job_record,
    n,
    s,
    shard_key,
)
from s3migrator.jobstore.listing import MAX_ERROR_CHARS, ListingWrites
from s3migrator.jobstore.writes import Clock
from s3migrator.models import JobRecord, JobState, Phase
from s3migrator.work import SHARDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_RUNNING = s(JobState.RUNNING.value)


class JobStore(ListingWrites):
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Clock = time.time) -> None:
        super().__init__(client, table_name, clock)
        self.batches = BatchStore(client, table_name, clock)

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
        """Write a new job record; False when a job with this id already exists."""
        return self._write_if(
            lambda: self._ddb.put_item(
                TableName=self._table,
                Item=job_item(record),
                ConditionExpression="attribute_not_exists(pk)",
            )
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

    def job_ids(self) -> list[str]:
        """Every job's id, oldest first, from the index (which lags behind writes)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": JOBS_INDEX,
            "KeyConditionExpression": "#kind = :job",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":job": s("job")},
            "ProjectionExpression": "job_id",
        }
        while True:
            with translated():
                page = self._ddb.query(**kwargs)
            ids.extend(item["job_id"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
            " REMOVE finished_at, #error, report_due, report_url"
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
        ``report``, its completion report becomes due (``JobRecord.report_due``)."""
        now = self._clock()
        values: Item = {
            ":state": s(state.value),
            ":phase": s(Phase.FINISHED.value),
            ":percent": n(percent),
            ":now": n(now),
            ":running": _RUNNING,
        }
        names = {"#state": "state", "#phase": "phase", "#percent": "percent"}
        expression = (
            "SET #state = :state, #phase = :phase, #percent = :percent,"
            " finished_at = :now, updated_at = :now"
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
