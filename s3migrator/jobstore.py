"""The DynamoDB job store: job records, listing checkpoints, exact per-batch counters.

One table, keyed by ``pk`` (``JOB#<id>``) and ``sk``:

* ``sk = JOB``: the job record. Counters are flat numeric attributes so copiers can ``ADD`` to
  them; the listing checkpoint lives beside them and is written only by the lease holder.
* ``sk = BATCH#<batch id>``: a marker proving a batch was counted (expires through TTL).
* ``sk = FAIL#<sha256 of key>``: one record per object that could not be copied.

The sparse index ``by-kind`` (``kind``, ``created_at``) lists jobs without scanning markers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from s3migrator.models import (
    CopySpec,
    Counters,
    FailureRecord,
    JobRecord,
    JobState,
    ListingCheckpoint,
    Phase,
    ReportLocation,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

JOBS_INDEX = "by-kind"
MARKER_TTL_S = 30 * 24 * 3600
_deserializer = TypeDeserializer()


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _pk(job_id: str) -> AttributeValueTypeDef:
    return _s(f"JOB#{job_id}")


def _job_key(job_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": _pk(job_id), "sk": _s("JOB")}


def _failure_sk(key: str) -> str:
    # A key may be 1,024 bytes, the sort key's own limit; the key itself is in the record.
    return "FAIL#" + hashlib.sha256(key.encode()).hexdigest()


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    # --- job records -------------------------------------------------------------------------

    def create_job(self, record: JobRecord) -> bool:
        """Write a new job record; False when a job with this id already exists."""
        item: dict[str, AttributeValueTypeDef] = {
            **_job_key(record.job_id),
            "kind": _s("job"),
            "job_id": _s(record.job_id),
            "state": _s(record.state.value),
            "phase": _s(record.phase.value),
            "percent": _n(record.percent),
            "created_at": _n(record.created_at),
            "updated_at": _n(record.updated_at),
            "l_next_seq": _n(0),
            "l_objects": _n(0),
            "l_bytes": _n(0),
            "l_complete": {"BOOL": False},
            "objects_copied": _n(0),
            "objects_failed": _n(0),
            "bytes_copied": _n(0),
            "batches_done": _n(0),
            "batches_extra": _n(0),
        }
        if record.mode is not None:
            item["mode"] = _s(record.mode.value)
        if record.spec is not None:
            item["spec"] = _s(record.spec.model_dump_json())
        if record.report is not None:
            item["report"] = _s(record.report.model_dump_json())
        if record.error is not None:
            item["error"] = _s(record.error)
        if record.finished_at is not None:
            item["finished_at"] = _n(record.finished_at)
        try:
            self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def reopen(self, job_id: str, extra_batches: int) -> bool:
        """Make a finished job run again for ``extra_batches`` more batches (a redrive)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression=(
                    "SET #state = :running, #phase = :copying, updated_at = :now"
                    " REMOVE finished_at, #error ADD batches_extra :extra"
                ),
                ConditionExpression="#state = :with_failures",
                ExpressionAttributeNames={"#state": "state", "#phase": "phase", "#error": "error"},
                ExpressionAttributeValues={
                    ":running": _s(JobState.RUNNING.value),
                    ":copying": _s(Phase.COPYING.value),
                    ":with_failures": _s(JobState.COMPLETED_WITH_FAILURES.value),
                    ":now": _n(time.time()),
                    ":extra": _n(extra_batches),
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get_job(self, job_id: str) -> JobRecord | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=_job_key(job_id), ConsistentRead=True
        ).get("Item")
        return _to_record(item) if item else None

    def list_jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": JOBS_INDEX,
            "KeyConditionExpression": "#kind = :job",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {":job": _s("job")},
        }
        while True:
            page = self._ddb.query(**kwargs)
            records.extend(_to_record(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the coordinator's lease and checkpoint --------------------------------------------------

    def acquire_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Take or renew the right to list this job; False while another live owner holds it."""
        now = time.time()
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(lease_owner)"
                    " OR lease_owner = :me OR lease_until < :now)"
                ),
                ExpressionAttributeValues={
                    ":me": _s(owner),
                    ":until": _n(now + lease_s),
                    ":now": _n(now),
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release_lease(self, job_id: str, owner: str) -> None:
        """Give the lease up at once (on a graceful stop) so another coordinator need not wait."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":zero": _n(0), ":me": _s(owner)},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def lease_until(self, job_id: str) -> float:
        item = self._ddb.get_item(
            TableName=self._table, Key=_job_key(job_id), ProjectionExpression="lease_until"
        ).get("Item", {})
        return float(item["lease_until"]["N"]) if "lease_until" in item else 0.0

    def save_checkpoint(
        self, job_id: str, owner: str, checkpoint: ListingCheckpoint, lease_s: float
    ) -> None:
        """Record the listing position and renew the lease; fails if the lease was lost."""
        now = time.time()
        values: dict[str, AttributeValueTypeDef] = {
            ":seq": _n(checkpoint.next_seq),
            ":objects": _n(checkpoint.objects),
            ":bytes": _n(checkpoint.bytes),
            ":complete": {"BOOL": checkpoint.complete},
            ":me": _s(owner),
            ":until": _n(now + lease_s),
            ":now": _n(now),
        }
        expression = (
            "SET l_next_seq = :seq, l_objects = :objects, l_bytes = :bytes,"
            " l_complete = :complete, lease_until = :until, updated_at = :now"
        )
        if checkpoint.start_after is not None:
            expression += ", l_start_after = :after"
            values[":after"] = _s(checkpoint.start_after)
        self._ddb.update_item(
            TableName=self._table,
            Key=_job_key(job_id),
            UpdateExpression=expression,
            ConditionExpression="lease_owner = :me",
            ExpressionAttributeValues=values,
        )

    # --- state changes -------------------------------------------------------------------------

    def set_phase(self, job_id: str, phase: Phase, percent: int) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=_job_key(job_id),
            UpdateExpression="SET #phase = :phase, #percent = :percent, updated_at = :now",
            ConditionExpression="#state = :running",
            ExpressionAttributeNames={"#state": "state", "#phase": "phase", "#percent": "percent"},
            ExpressionAttributeValues={
                ":phase": _s(phase.value),
                ":percent": _n(percent),
                ":now": _n(time.time()),
                ":running": _s(JobState.RUNNING.value),
            },
        )

    def set_percent(self, job_id: str, percent: int) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=_job_key(job_id),
            UpdateExpression="SET #percent = :percent",
            ConditionExpression="#state = :running",
            ExpressionAttributeNames={"#state": "state", "#percent": "percent"},
            ExpressionAttributeValues={
                ":percent": _n(percent),
                ":running": _s(JobState.RUNNING.value),
            },
        )

    def finish(self, job_id: str, state: JobState, percent: int, error: str | None = None) -> bool:
        """Move a running job to a final state; False if it had already finished."""
        now = time.time()
        values: dict[str, AttributeValueTypeDef] = {
            ":state": _s(state.value),
            ":phase": _s(Phase.FINISHED.value),
            ":percent": _n(percent),
            ":now": _n(now),
            ":running": _s(JobState.RUNNING.value),
        }
        expression = (
            "SET #state = :state, #phase = :phase, #percent = :percent,"
            " finished_at = :now, updated_at = :now"
        )
        if error is not None:
            expression += ", #error = :error"
            values[":error"] = _s(error)
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_job_key(job_id),
                UpdateExpression=expression,
                ConditionExpression="#state = :running",
                ExpressionAttributeNames={
                    "#state": "state",
                    "#phase": "phase",
                    "#percent": "percent",
                    **({"#error": "error"} if error is not None else {}),
                },
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

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
        expires = int(time.time()) + MARKER_TTL_S
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _pk(job_id),
                                "sk": _s(f"BATCH#{batch_id}"),
                                "copied": _n(copied),
                                "failed": _n(failed),
                                "bytes": _n(bytes_copied),
                                "expires_at": _n(expires),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _job_key(job_id),
                            "UpdateExpression": (
                                "ADD objects_copied :copied, objects_failed :failed,"
                                " bytes_copied :bytes, batches_done :one"
                            ),
                            "ExpressionAttributeValues": {
                                ":copied": _n(copied),
                                ":failed": _n(failed),
                                ":bytes": _n(bytes_copied),
                                ":one": _n(1),
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            if not reasons and "ConditionalCheckFailed" in str(exc):
                return False
            raise
        return True

    def is_counted(self, job_id: str, batch_id: str) -> bool:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": _pk(job_id), "sk": _s(f"BATCH#{batch_id}")},
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in item

    def put_failures(self, job_id: str, failures: Iterable[FailureRecord]) -> None:
        """Store per-object failure records; idempotent, keyed by the object's key."""
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": _pk(job_id),
                        "sk": _s(_failure_sk(f.key)),
                        "failure": _s(f.model_dump_json()),
                    }
                }
            }
            for f in failures
        ]
        self._batch_write(requests)

    def delete_failures(self, job_id: str, keys: Iterable[str]) -> None:
        """Forget the failure records of objects that have since been copied."""
        requests = [
            {"DeleteRequest": {"Key": {"pk": _pk(job_id), "sk": _s(_failure_sk(key))}}}
            for key in keys
        ]
        self._batch_write(requests)

    def _batch_write(self, requests: list[Any]) -> None:
        for start in range(0, len(requests), 25):
            pending: list[Any] = requests[start : start + 25]
            while pending:
                result = self._ddb.batch_write_item(RequestItems={self._table: pending})
                pending = list(result.get("UnprocessedItems", {}).get(self._table, []))
                if pending:
                    time.sleep(0.2)

    def failures(self, job_id: str, limit: int | None = None) -> Iterator[FailureRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :fail)",
            "ExpressionAttributeValues": {":pk": _pk(job_id), ":fail": _s("FAIL#")},
        }
        seen = 0
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                yield FailureRecord.model_validate_json(item["failure"]["S"])
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _to_record(item: dict[str, Any]) -> JobRecord:
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return JobRecord(
        job_id=raw["job_id"],
        mode=raw.get("mode"),
        spec=CopySpec.model_validate(json.loads(raw["spec"])) if "spec" in raw else None,
        report=ReportLocation.model_validate_json(raw["report"]) if "report" in raw else None,
        state=raw["state"],
        phase=raw["phase"],
        percent=int(raw.get("percent", 0)),
        error=raw.get("error"),
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        finished_at=float(raw["finished_at"]) if "finished_at" in raw else None,
        listing=ListingCheckpoint(
            start_after=raw.get("l_start_after"),
            next_seq=int(raw.get("l_next_seq", 0)),
            objects=int(raw.get("l_objects", 0)),
            bytes=int(raw.get("l_bytes", 0)),
            complete=bool(raw.get("l_complete", False)),
        ),
        counters=Counters(
            objects_copied=int(raw.get("objects_copied", 0)),
            objects_failed=int(raw.get("objects_failed", 0)),
            bytes_copied=int(raw.get("bytes_copied", 0)),
            batches_done=int(raw.get("batches_done", 0)),
            batches_extra=int(raw.get("batches_extra", 0)),
        ),
    )
