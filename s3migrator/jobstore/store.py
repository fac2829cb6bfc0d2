"""Job records: creation, the coordinator's lease and checkpoint, state changes, exact counting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import PROVIDER_ERRORS, translate, translated
from s3migrator.errors import ConditionFailedError, LeaseLostError
from s3migrator.jobstore.codec import (
    JOBS_INDEX,
    Item,
    batch_key,
    job_item,
    job_key,
    job_record,
    listing_attributes,
    n,
    s,
)
from s3migrator.jobstore.failures import FailureStore
from s3migrator.models import JobRecord, JobState, ListingCheckpoint, Phase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Seconds since the epoch; injected so tests can move time without patching modules.
Clock = Callable[[], float]
MARKER_TTL_S = 30 * 24 * 3600
MAX_ERROR_CHARS = 2000
_RUNNING = s(JobState.RUNNING.value)


class JobStore:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Clock = time.time) -> None:
        self._ddb = client
        self._table = table_name
        self._clock = clock
        self.failures = FailureStore(client, table_name)

    def now(self) -> float:
        """The store's clock: what leases, checkpoints and timestamps are measured against."""
        return self._clock()

    # --- the one way to make a conditional write -----------------------------------------------

    def _write_if(self, write: Callable[[], object]) -> bool:
        """Run a conditional write; False when its condition did not hold."""
        try:
            write()
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, ConditionFailedError):
                return False
            raise error from exc
        return True

    def _update_job(
        self,
        job_id: str,
        expression: str,
        condition: str,
        values: Item,
        names: dict[str, str] | None = None,
    ) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": job_key(job_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self._write_if(lambda: self._ddb.update_item(**kwargs))

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
        with translated():
            item = self._ddb.get_item(
                TableName=self._table, Key=job_key(job_id), ConsistentRead=True
            ).get("Item")
        return job_record(item) if item else None

    def list_jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": JOBS_INDEX,
            "KeyConditionExpression": "#kind = :job",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":job": s("job")},
        }
        while True:
            with translated():
                page = self._ddb.query(**kwargs)
            records.extend(job_record(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reopen(self, job_id: str, extra_batches: int) -> bool:
        """Make a finished job run again for ``extra_batches`` more batches (a redrive)."""
        return self._update_job(
            job_id,
            "SET #state = :running, #phase = :copying, updated_at = :now"
            " REMOVE finished_at, #error ADD batches_extra :extra",
            "#state = :with_failures",
            {
                ":running": _RUNNING,
                ":copying": s(Phase.COPYING.value),
                ":with_failures": s(JobState.COMPLETED_WITH_FAILURES.value),
                ":now": n(self._clock()),
                ":extra": n(extra_batches),
            },
            {"#state": "state", "#phase": "phase", "#error": "error"},
        )

    # --- the coordinator's lease, checkpoint and resumes -----------------------------------------

    def acquire_lease(self, job_id: str, token: str, lease_s: float) -> bool:
        """Take the right to list this job for one run (``token``); False while another run
        holds a live lease. A run's token is its own: no other run, even in the same process,
        can renew or use it."""
        now = self._clock()
        return self._update_job(
            job_id,
            "SET lease_owner = :me, lease_until = :until",
            "attribute_exists(pk) AND (attribute_not_exists(lease_owner)"
            " OR lease_owner = :me OR lease_until < :now)",
            {":me": s(token), ":until": n(now + lease_s), ":now": n(now)},
        )

    def renew_lease(self, job_id: str, token: str, lease_s: float) -> None:
        """Keep the lease during long steps; LeaseLostError when another run took it."""
        if not self._update_job(
            job_id,
            "SET lease_until = :until",
            "lease_owner = :me",
            {":me": s(token), ":until": n(self._clock() + lease_s)},
        ):
            raise LeaseLostError(job_id)

    def release_lease(self, job_id: str, token: str) -> None:
        """Give the lease up at once (on a graceful stop) so another coordinator need not wait."""
        self._update_job(
            job_id, "SET lease_until = :zero", "lease_owner = :me", {":zero": n(0), ":me": s(token)}
        )

    def lease_until(self, job_id: str) -> float:
        with translated():
            item = self._ddb.get_item(
                TableName=self._table, Key=job_key(job_id), ProjectionExpression="lease_until"
            ).get("Item", {})
        return float(item["lease_until"]["N"]) if "lease_until" in item else 0.0

    def save_checkpoint(
        self, job_id: str, token: str, checkpoint: ListingCheckpoint, lease_s: float, seq: int
    ) -> None:
        """Move the listing from ``seq`` batches to the checkpoint's and renew the lease.

        Only forward, and only by the run holding the lease: a run whose lease was taken over,
        or whose idea of the listing is behind, gets LeaseLostError and writes nothing.
        """
        now = self._clock()
        attributes = listing_attributes(checkpoint)
        values: Item = {f":{name}": value for name, value in attributes.items()}
        values.update(
            {":me": s(token), ":until": n(now + lease_s), ":now": n(now), ":seen": n(seq)}
        )
        assignments = ", ".join(f"{name} = :{name}" for name in attributes)
        saved = self._update_job(
            job_id,
            f"SET {assignments}, lease_until = :until, updated_at = :now, resumes = :zero_resumes",
            "lease_owner = :me AND l_next_seq = :seen AND l_complete = :no",
            {**values, ":zero_resumes": n(0), ":no": {"BOOL": False}},
        )
        if not saved:
            raise LeaseLostError(job_id)

    def schedule_resume(self, job_id: str, due: float, error: str | None = None) -> int:
        """Record that a resume message is on its way (due then), and why; returns how many
        resumes the job has had since its listing last moved."""
        values: Item = {":due": n(due), ":one": n(1), ":running": _RUNNING}
        expression = "SET resume_due = :due ADD resumes :one"
        if error is not None:
            expression = "SET resume_due = :due, last_error = :error ADD resumes :one"
            values[":error"] = s(error[:MAX_ERROR_CHARS])
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": job_key(job_id),
            "UpdateExpression": expression,
            "ConditionExpression": "#state = :running",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_NEW",
        }
        try:
            with translated():
                updated = self._ddb.update_item(**kwargs)
        except ConditionFailedError:
            return 0  # finished meanwhile: nothing to resume
        return int(updated["Attributes"]["resumes"]["N"])

    def claim_stalled(self, job_id: str, seen_due: float | None, due: float) -> bool:
        """The watchdog's claim on a job nobody lists: only if its lease has run out and no
        other watchdog claimed it since ``seen_due`` was read."""
        now = self._clock()
        condition = (
            "#state = :running AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        )
        values: Item = {":due": n(due), ":now": n(now), ":running": _RUNNING, ":one": n(1)}
        if seen_due is None:
            condition += " AND attribute_not_exists(resume_due)"
        else:
            condition += " AND resume_due = :seen"
            values[":seen"] = n(seen_due)
        return self._update_job(
            job_id,
            "SET resume_due = :due ADD resumes :one",
            condition,
            values,
            {"#state": "state"},
        )

    # --- state changes -------------------------------------------------------------------------

    def set_phase(self, job_id: str, phase: Phase) -> bool:
        """Move a running job to ``phase``; False when the job is no longer running."""
        return self._update_job(
            job_id,
            "SET #phase = :phase, updated_at = :now",
            "#state = :running",
            {":phase": s(phase.value), ":now": n(self._clock()), ":running": _RUNNING},
            {"#state": "state", "#phase": "phase"},
        )

    def set_percent(self, job_id: str, percent: int) -> bool:
        """Store a running job's percent; False when the job is no longer running."""
        return self._update_job(
            job_id,
            "SET #percent = :percent",
            "#state = :running",
            {":percent": n(percent), ":running": _RUNNING},
            {"#state": "state", "#percent": "percent"},
        )

    def finish(self, job_id: str, state: JobState, percent: int, error: str | None = None) -> bool:
        """Move a running job to a final state; False if it had already finished."""
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
        if error is not None:
            expression += ", #error = :error"
            values[":error"] = s(error)
            names["#error"] = "error"
        return self._update_job(job_id, expression, "#state = :running", values, names)

    # --- counting ------------------------------------------------------------------------------

    def count_batch(
        self, job_id: str, batch_id: str, *, copied: int, failed: int, bytes_copied: int
    ) -> bool:
        """Add one batch's outcome to the job's counters, exactly once per batch id.

        A transaction puts the batch marker (only if absent) and adds to the counters, so a
        redelivered batch finds its marker and adds nothing. Returns False in that case.
        A redelivered batch is recognised first by a read, so the transaction runs only for new
        batches: a cancelled transaction still bills its writes (and the local endpoint's
        rollback is not safe against concurrent writers).
        """
        if self.is_counted(job_id, batch_id):
            return False
        marker: Item = {
            **batch_key(job_id, batch_id),
            "copied": n(copied),
            "failed": n(failed),
            "bytes": n(bytes_copied),
            "expires_at": n(int(self._clock()) + MARKER_TTL_S),
        }
        return self._write_if(
            lambda: self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": job_key(job_id),
                            "UpdateExpression": (
                                "ADD objects_copied :copied, objects_failed :failed,"
                                " bytes_copied :bytes, batches_done :one"
                            ),
                            "ExpressionAttributeValues": {
                                ":copied": n(copied),
                                ":failed": n(failed),
                                ":bytes": n(bytes_copied),
                                ":one": n(1),
                            },
                        }
                    },
                ]
            )
        )

    def is_counted(self, job_id: str, batch_id: str) -> bool:
        with translated():
            item = self._ddb.get_item(
                TableName=self._table,
                Key=batch_key(job_id, batch_id),
                ConsistentRead=True,
                ProjectionExpression="pk",
            )
        return "Item" in item
