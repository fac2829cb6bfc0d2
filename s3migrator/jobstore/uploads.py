"""Huge objects' uploads and their part batches, as the job table keeps them.

* ``JOB#<id>#<shard>`` / ``UPLOAD#<parent batch id>``: the upload (``UploadRecord``): written
  once, by the first copier to start it (a conditional put: of two copiers given the same
  parent, the loser aborts its own upload and uses this one); which part batches are done (a
  number set, added to once per part batch); its end (``completed`` or ``aborted``).
* ``JOB#<id>#<shard>`` / ``PART#<part batch id>``: a part batch's claim and, once done, its
  parts' ETags (a record of its own: 10,000 ETags would not fit one item).

Neither begins with ``BATCH#``: nothing that reads a job's batches (counting, failures,
redrives) ever sees them. A part batch is done in one transaction with its index added to the
upload's set, so the set says exactly which parts' ETags are recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from s3migrator.aws_errors import translated
from s3migrator.failures import FailureRecord
from s3migrator.jobstore.codec import job_key, n, s, shard_pk
from s3migrator.jobstore.writes import Table
from s3migrator.models import JobState
from s3migrator.part_work import PartRecord, UploadRecord, UploadState
from s3migrator.work import WorkBatch, shard_of

if TYPE_CHECKING:
    from s3migrator.jobstore.codec import Item

_deserializer = TypeDeserializer()
_TRANSACT_GET_LIMIT = 100


def upload_key(job_id: str, parent: str) -> Item:
    return {"pk": shard_pk(job_id, shard_of(parent)), "sk": s(f"UPLOAD#{parent}")}


def part_key(job_id: str, part_batch: str) -> Item:
    return {"pk": shard_pk(job_id, shard_of(part_batch)), "sk": s(f"PART#{part_batch}")}


def _upload_record(item: dict[str, Any]) -> UploadRecord:
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    failure = raw.get("failure")
    return UploadRecord(
        parent=WorkBatch.model_validate_json(raw["parent"]),
        item=json.loads(raw["item"]),
        upload_id=raw["upload_id"],
        part_size=int(raw["part_size"]),
        per_batch=int(raw["per_batch"]),
        total=int(raw["total"]),
        state=raw["state"],
        done=frozenset(int(i) for i in raw.get("done", set())),
        sent=bool(raw.get("sent", False)),
        checked_algorithm=raw.get("checked_algorithm"),
        checked_value=raw.get("checked_value"),
        failure=FailureRecord.model_validate_json(failure) if failure else None,
        completer=raw.get("completer"),
        completer_until=float(raw.get("completer_until", 0)),
    )


def _part_record(item: dict[str, Any]) -> PartRecord:
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return PartRecord(
        batch_id=raw["batch_id"],
        done=bool(raw.get("done", False)),
        parts=json.loads(raw.get("parts", "[]")),
        claim_owner=raw.get("claim_owner"),
        claim_until=float(raw.get("claim_until", 0)),
    )


class UploadStore(Table):
    def begin(self, record: UploadRecord) -> bool:
        """Record a new upload; False when one is recorded for the parent already."""
        item: Item = {
            **upload_key(record.job_id, record.parent.batch_id),
            "parent": s(record.parent.body()),
            "item": s(record.item.model_dump_json()),
            "upload_id": s(record.upload_id),
            "part_size": n(record.part_size),
            "per_batch": n(record.per_batch),
            "total": n(record.total),
            "state": s(UploadState.OPEN.value),
            "created_at": n(self.now()),
        }
        if record.checked_algorithm and record.checked_value:
            item["checked_algorithm"] = s(record.checked_algorithm)
            item["checked_value"] = s(record.checked_value)
        return self._write_if(
            lambda: self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(sk)"
            )
        )

    def get(self, job_id: str, parent: str) -> UploadRecord | None:
        found = self._retried(
            lambda: self._ddb.get_item(
                TableName=self._table, Key=upload_key(job_id, parent), ConsistentRead=True
            )
        ).get("Item")
        return _upload_record(found) if found else None

    def mark_sent(self, job_id: str, parent: str) -> bool:
        """Note that every part batch was sent: a parent delivered again sends none."""
        return self._update(
            upload_key(job_id, parent),
            "SET sent = :true",
            "attribute_exists(sk)",
            {":true": {"BOOL": True}},
        )

    def part(self, job_id: str, part_batch: str) -> PartRecord | None:
        found = self._retried(
            lambda: self._ddb.get_item(
                TableName=self._table, Key=part_key(job_id, part_batch), ConsistentRead=True
            )
        ).get("Item")
        return _part_record(found) if found else None

    def claim_part(self, job_id: str, part_batch: str, owner: str, until: float) -> bool:
        """Hold a part batch while its parts are copied (two deliveries copying one part at
        once could leave the part another ETag than the one recorded); False when it is done
        or another live copier holds it."""
        return self._update(
            part_key(job_id, part_batch),
            "SET batch_id = :id, claim_owner = :me, claim_until = :until",
            "attribute_not_exists(done) AND (attribute_not_exists(claim_owner)"
            " OR claim_owner = :me OR claim_until < :now)",
            {":id": s(part_batch), ":me": s(owner), ":until": n(until), ":now": n(self.now())},
        )

    def release_part(self, job_id: str, part_batch: str, owner: str) -> bool:
        """Let the next delivery take the part batch at once (a retry after a backoff)."""
        return self._update(
            part_key(job_id, part_batch),
            "SET claim_until = :zero",
            "claim_owner = :me AND attribute_not_exists(done)",
            {":zero": n(0), ":me": s(owner)},
        )

    def part_done(
        self, job_id: str, parent: str, part_batch: str, index: int, parts: list[dict[str, Any]]
    ) -> bool:
        """Record a part batch's parts and add it to the upload's done set, in one transaction;
        False when it was done already, or the upload is no longer open."""
        return self._transact(
            [
                {
                    "Update": {
                        "Key": part_key(job_id, part_batch),
                        "UpdateExpression": "SET batch_id = :id, done = :true, parts = :parts",
                        "ConditionExpression": "attribute_not_exists(done)",
                        "ExpressionAttributeValues": {
                            ":id": s(part_batch),
                            ":true": {"BOOL": True},
                            ":parts": s(json.dumps(parts)),
                        },
                    }
                },
                {
                    "Update": {
                        "Key": upload_key(job_id, parent),
                        "UpdateExpression": "ADD done :index",
                        # Once the object has failed, no part is done: the set stays short of
                        # its total, so no copier completes what another aborts.
                        "ConditionExpression": "#state = :open AND attribute_not_exists(failure)",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {
                            ":index": {"NS": [str(index)]},
                            ":open": s(UploadState.OPEN.value),
                        },
                    }
                },
            ]
        )

    def parts_of(self, job_id: str, part_batches: list[str]) -> Iterator[PartRecord]:
        """The part batches' records, in the order given (100 per read)."""
        for start in range(0, len(part_batches), _TRANSACT_GET_LIMIT):
            keys = [part_key(job_id, b) for b in part_batches[start : start + _TRANSACT_GET_LIMIT]]
            for found in self._read_together(keys):
                if found is not None:
                    yield _part_record(found)

    def claim_completion(self, record: UploadRecord, owner: str, until: float) -> bool:
        """Who completes the upload: one copier at a time, only once every part batch is done,
        the claim running out if that copier dies."""
        return self._update(
            upload_key(record.job_id, record.parent.batch_id),
            "SET completer = :me, completer_until = :until",
            "#state = :open AND size(done) = :total AND (attribute_not_exists(completer)"
            " OR completer = :me OR completer_until < :now)",
            {
                ":me": s(owner),
                ":until": n(until),
                ":now": n(self.now()),
                ":open": s(UploadState.OPEN.value),
                ":total": n(record.total),
            },
            {"#state": "state"},
        )

    def fail(self, record: UploadRecord, failure: FailureRecord) -> bool:
        """Note why the object failed (the first reason stays), while some part batch is not
        done: the upload is then aborted and the parent counted failed by whoever gets there.
        False once every part batch is done (the upload is completed instead) or it ended."""
        return self._update(
            upload_key(record.job_id, record.parent.batch_id),
            "SET failure = :failure",
            "#state = :open AND attribute_not_exists(failure)"
            " AND (attribute_not_exists(done) OR size(done) < :total)",
            {
                ":failure": s(failure.model_dump_json()),
                ":open": s(UploadState.OPEN.value),
                ":total": n(record.total),
            },
            {"#state": "state"},
        )

    def closing(self, record: UploadRecord, state: UploadState) -> dict[str, Any]:
        """The write that ends the upload, for the transaction that counts its parent."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": upload_key(record.job_id, record.parent.batch_id),
                "UpdateExpression": "SET #state = :end, ended_at = :now",
                "ConditionExpression": "#state = :open",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":end": s(state.value),
                    ":open": s(UploadState.OPEN.value),
                    ":now": n(self.now()),
                },
            }
        }

    def close(self, record: UploadRecord, state: UploadState) -> bool:
        """End the upload alone (its parent was counted, or replaced, by someone else)."""
        action = self.closing(record, state)["Update"]
        return self._update(
            action["Key"],
            action["UpdateExpression"],
            action["ConditionExpression"],
            action["ExpressionAttributeValues"],
            action["ExpressionAttributeNames"],
        )

    def job_running(self, job_id: str) -> bool:
        """Whether the job still runs (one small read): an upload of a job that failed or was
        cancelled is aborted rather than carried on."""
        with translated():
            found = self._ddb.get_item(
                TableName=self._table,
                Key=job_key(job_id),
                ProjectionExpression="#state",
                ExpressionAttributeNames={"#state": "state"},
                ConsistentRead=True,
            ).get("Item", {})
        return found.get("state", {}).get("S") == JobState.RUNNING.value
