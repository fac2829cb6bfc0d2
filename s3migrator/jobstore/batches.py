"""Batches as the job table keeps them: records, counting once, counters, the failures view.

Each batch has one record (``BatchRecord``) in its counter shard's partition. Counting is one
transaction that turns the record ``counted`` (only from ``defined``, and only for the digest it
was defined with), stores the batch's failures in it, adds to the shard's counters, and may
define the remainder batch of objects that failed transiently. Nothing is written outside that
transaction, so no interleaving of copiers, the dead-letter sweep and a redrive can count an
object twice or leave a failure without its count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import translated
from s3migrator.failures import RECORD_BYTES, FailureRecord, stored_bytes
from s3migrator.jobstore.codec import (
    SHARD_COUNTERS,
    batch_key,
    batch_record,
    failures_json,
    items_text,
    n,
    new_batch_put,
    s,
    shard_key,
    shard_pk,
)
from s3migrator.jobstore.writes import Table
from s3migrator.models import Counters
from s3migrator.work import SHARDS, BatchOutcome, BatchRecord, BatchState, WorkBatch, shard_of

if TYPE_CHECKING:
    from s3migrator.jobstore.codec import Item

_BATCH_GET_LIMIT = 100


class BatchStore(Table):
    def get(self, job_id: str, batch_id: str) -> BatchRecord | None:
        with translated():
            item = self._ddb.get_item(
                TableName=self._table, Key=batch_key(job_id, batch_id), ConsistentRead=True
            ).get("Item")
        return batch_record(item) if item else None

    def get_many(self, job_id: str, batch_ids: list[str]) -> dict[str, BatchRecord]:
        found: dict[str, BatchRecord] = {}
        for start in range(0, len(batch_ids), _BATCH_GET_LIMIT):
            keys = [batch_key(job_id, b) for b in batch_ids[start : start + _BATCH_GET_LIMIT]]
            for item in self._get_items(keys):
                record = batch_record(item)
                found[record.batch_id] = record
        return found

    def of_job(self, job_id: str) -> Iterator[BatchRecord]:
        """Every batch record of the job, shard by shard."""
        for shard in range(SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :batch)",
                "ExpressionAttributeValues": {
                    ":pk": shard_pk(job_id, shard),
                    ":batch": s("BATCH#"),
                },
                "ConsistentRead": True,
            }
            while True:
                with translated():
                    page = self._ddb.query(**kwargs)
                yield from (batch_record(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remainder_to_send(self, batch: WorkBatch, record: BatchRecord) -> WorkBatch | None:
        """The remainder a counted batch spawned, while it is still to be done: whoever finds
        the counted batch again (a redelivery, the dead-letter sweep) sends it, since the copier
        that counted it may have died before sending it."""
        if record.remainder is None:
            return None
        remainder = self.get(batch.job_id, record.remainder)
        if remainder is None or remainder.state is not BatchState.DEFINED or not remainder.items:
            return None
        return remainder.carried(batch.spec)

    def count(
        self,
        batch: WorkBatch,
        outcome: BatchOutcome,
        remainder: WorkBatch | None = None,
        *,
        also: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Count the batch's decided objects once; False when it was counted (or replaced).

        A redrive batch's objects were counted failed already: each copied now moves over.
        ``also``: writes that happen with the counting or not at all (a huge object's upload
        ending with its parent counted).
        """
        copied, failed = len(outcome.copied), len(outcome.failures)
        deleted = len(outcome.deleted)
        values: Item = {
            ":counted": s("counted"),
            ":defined": s("defined"),
            ":digest": s(batch.digest),
            ":copied": n(copied),
            ":verified": n(outcome.verified),
            ":failures": failures_json(outcome.failures, room_bytes=_failure_room(batch, outcome)),
            ":now": n(self.now()),
        }
        expression = (
            "SET #state = :counted, copied = :copied, verified = :verified, failures = :failures,"
            " counted_at = :now"
        )
        if remainder is not None:
            expression += ", #remainder = :remainder"
            values[":remainder"] = s(remainder.batch_id)
        adds: Item = {
            ":oc": n(copied),
            ":od": n(deleted),
            ":ov": n(outcome.verified),
            ":of": n(-(copied + deleted) if batch.redrive else failed),
            ":bc": n(outcome.bytes_copied),
            ":one": n(1),
            ":spawned": n(1 if remainder is not None else 0),
        }
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": batch_key(batch.job_id, batch.batch_id),
                    "UpdateExpression": expression,
                    "ConditionExpression": "#state = :defined AND digest = :digest",
                    "ExpressionAttributeNames": {
                        "#state": "state",
                        **({"#remainder": "remainder"} if remainder is not None else {}),
                    },
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "Key": shard_key(batch.job_id, shard_of(batch.batch_id)),
                    "UpdateExpression": (
                        "ADD objects_copied :oc, objects_failed :of, objects_deleted :od,"
                        " objects_verified :ov, bytes_copied :bc,"
                        " batches_done :one, batches_spawned :spawned"
                    ),
                    "ExpressionAttributeValues": adds,
                }
            },
        ]
        if remainder is not None:
            actions.append(new_batch_put(remainder))
        return self._transact(actions + (also or []))

    def claim(self, job_id: str, batch_id: str, owner: str, until: float) -> bool:
        """Claim a batch being copied for a long time, so that no one takes it for dead; False
        when another live copier holds it (or it was counted meanwhile)."""
        return self._update(
            batch_key(job_id, batch_id),
            "SET claim_owner = :me, claim_until = :until",
            "#state = :defined AND (attribute_not_exists(claim_owner) OR claim_owner = :me"
            " OR claim_until < :now)",
            {
                ":me": s(owner),
                ":until": n(until),
                ":now": n(self.now()),
                ":defined": s("defined"),
            },
            {"#state": "state"},
        )

    def failures(self, job_id: str, limit: int | None = None) -> list[FailureRecord]:
        """The objects failed now, by key (see ``failures_now``); at most ``limit`` of them."""
        found = sorted(self.failures_now(job_id), key=lambda f: f.key)
        return found if limit is None else found[:limit]

    def failures_now(self, job_id: str) -> Iterator[FailureRecord]:
        """The objects failed now: each key as the latest batch that decided it left it.

        A batch that carries its items (a redrive's, a remainder's, a replacement's) decides
        them, all but those it passed on to its remainder, so an object a redrive copied is no
        longer failed, and one the redrive has not decided yet still is. Batches come in the
        job's order (runs, then remainders after their parents). Streams: what is held in
        memory is only which keys such batches decided, never the failures themselves.
        """
        carried: dict[str, tuple[BatchRecord, list[str]]] = {}
        for record in self.of_job(job_id):
            if record.items:
                carried[record.batch_id] = (record, [item.key for item in record.items])
        latest: dict[str, tuple[int, int]] = {}
        for record, keys in carried.values():
            if record.state is not BatchState.COUNTED:
                continue
            passed_on = set(carried[record.remainder][1]) if record.remainder in carried else set()
            order = (record.epoch, record.attempt)
            for key in keys:
                if key not in passed_on:
                    latest[key] = max(order, latest.get(key, order))
        for record in self.of_job(job_id):
            if record.state is not BatchState.COUNTED:
                continue
            order = (record.epoch, record.attempt)
            for failure in record.failures:
                if latest.get(failure.key, order) <= order:
                    yield failure

    def _get_items(self, keys: list[Item]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            with translated():
                result = self._ddb.batch_get_item(RequestItems=request)
            items.extend(result.get("Responses", {}).get(self._table, []))
            request = dict(result.get("UnprocessedKeys", {}))
        return items


def _failure_room(batch: WorkBatch, outcome: BatchOutcome) -> int:
    """What the batch's record has for its failures beside its items; the items are written
    out only when there are failures to fit (most counts have none)."""
    if not outcome.failures:
        return RECORD_BYTES
    return RECORD_BYTES - stored_bytes(items_text(batch.items))


def sum_shards(shards: Iterable[dict[str, Any]]) -> Counters:
    """The sum of a job's counter shards (batches_extra is the job item's)."""
    totals = dict.fromkeys(SHARD_COUNTERS, 0)
    for item in shards:
        for name in SHARD_COUNTERS:
            totals[name] += int(item.get(name, {}).get("N", "0"))
    return Counters.model_validate(totals)
