"""The job table's side of a sharded listing: the split, each shard's checkpoint, the totals.

* ``JOB#<id>`` / ``JOB`` carries the split (``l_split``, the cuts as JSON), written once, in
  the transaction that creates the shards' items; and the listing's totals as the sum of the
  shards': each group a shard defines ADDs its batches, objects, bytes and what it left out
  to ``l_next_seq``, ``l_objects``, ``l_bytes`` and the tally, in the transaction that records
  the group, so progress reads the job item as for a job listed in one chain. ``l_complete``
  is set once, in a transaction that checks every shard complete.
* ``JOB#<id>`` / ``LISTING#<shard>``: one shard's range and checkpoint (``start_after``,
  ``next_seq``, ``group_start``, ``complete``). Its own item, so shards listed at once never
  write the same checkpoint; a few hundred bytes each, far from DynamoDB's 400 KB.

Every write is conditional on the run's lease (the job item) and moves the shard's checkpoint
only forward from what the run read (``next_seq`` as seen, not complete): a run that lost its
lease, or whose idea of a shard is behind, gets LeaseLostError and writes nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from pydantic import BaseModel

from s3migrator.errors import LeaseLostError
from s3migrator.jobstore.codec import TALLY_ATTRIBUTES, Item, job_key, n, new_batch_put, pk, s
from s3migrator.jobstore.writes import Table
from s3migrator.models import JobState, ListingCheckpoint
from s3migrator.selection import Tally

if TYPE_CHECKING:
    from s3migrator.work import WorkBatch

_RUNNING = s(JobState.RUNNING.value)
_SHARD = "LISTING#"
_deserializer = TypeDeserializer()


class ListingShard(BaseModel):
    """One key range ``(after, through]`` of a sharded listing, and where its listing stands.
    Its checkpoint's ``objects``, ``bytes`` and ``tally`` are not kept: the job item adds up
    every shard's."""

    index: int
    after: str | None = None
    through: str | None = None
    checkpoint: ListingCheckpoint = ListingCheckpoint()


def shard_item_key(job_id: str, index: int) -> Item:
    return {"pk": pk(job_id), "sk": s(f"{_SHARD}{index:03d}")}


def _shard_item(job_id: str, shard: ListingShard) -> Item:
    item: Item = {
        **shard_item_key(job_id, shard.index),
        "index": n(shard.index),
        "next_seq": n(0),
        "group_start": n(0),
        "complete": {"BOOL": False},
    }
    for name in ("after", "through"):
        value = getattr(shard, name)
        if value is not None:
            item[name] = s(value)
    if shard.after is not None:
        item["start_after"] = s(shard.after)
    return item


def _shard(item: dict[str, Any]) -> ListingShard:
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return ListingShard(
        index=int(raw["index"]),
        after=raw.get("after"),
        through=raw.get("through"),
        checkpoint=ListingCheckpoint(
            start_after=raw.get("start_after"),
            next_seq=int(raw["next_seq"]),
            group_start=int(raw["group_start"]),
            complete=bool(raw["complete"]),
        ),
    )


class ShardListingWrites(Table):
    def listing_shards(self, job_id: str) -> list[ListingShard]:
        """The job's listing shards in key order, as they stand; none for a job listed in one
        chain."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :shard)",
            "ExpressionAttributeValues": {":pk": pk(job_id), ":shard": s(_SHARD)},
            "ConsistentRead": True,
        }
        found: list[ListingShard] = []
        while True:
            page = self._retried(lambda: self._ddb.query(**kwargs))
            found += [_shard(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda shard: shard.index)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_split(
        self, job_id: str, token: str, ranges: list[tuple[str | None, str | None]]
    ) -> list[ListingShard]:
        """Split the job's listing into these ranges, once: only for the run holding the lease
        and only before anything was listed; LeaseLostError otherwise."""
        shards = [
            ListingShard(
                index=index,
                after=after,
                through=through,
                checkpoint=ListingCheckpoint(start_after=after),
            )
            for index, (after, through) in enumerate(ranges)
        ]
        cuts = [through for _, through in ranges[:-1]]
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": job_key(job_id),
                    "UpdateExpression": "SET l_split = :split",
                    "ConditionExpression": (
                        "#state = :running AND lease_owner = :me AND attribute_not_exists(l_split)"
                        " AND l_next_seq = :zero AND l_complete = :no"
                    ),
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":split": s(json.dumps(cuts, ensure_ascii=False)),
                        ":running": _RUNNING,
                        ":me": s(token),
                        ":zero": n(0),
                        ":no": {"BOOL": False},
                    },
                }
            },
            *(
                {
                    "Put": {
                        "Item": _shard_item(job_id, shard),
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                }
                for shard in shards
            ),
        ]
        if not self._transact(actions):
            raise LeaseLostError(job_id)
        return shards

    def define_shard_group(
        self,
        job_id: str,
        token: str,
        shard: ListingShard,
        lease_s: float,
        seq: int,
        group: list[tuple[WorkBatch, str | None]],
        *,
        ranged: bool,
        tallies: list[Tally],
    ) -> None:
        """Record a group of the shard's batches (each with the key its range starts after),
        move the shard's checkpoint from ``seq`` batches past them, and add them to the job's
        totals, in one transaction (``ListingWrites.define_group``'s, for one shard)."""
        left_out = Tally()
        for tally in tallies:
            left_out = left_out.plus(tally)
        actions = [
            self._shard_update(job_id, shard, seq),
            self._totals_update(
                job_id,
                token,
                lease_s,
                batches=len(group),
                objects=sum(len(batch.items) for batch, _ in group),
                bytes_=sum(i.bytes_to_copy for batch, _ in group for i in batch.items),
                left_out=left_out,
            ),
        ]
        for (batch, after), tally in zip(group, tallies, strict=True):
            actions.append(new_batch_put(batch, after=after, listed=ranged, tally=tally))
        if not self._transact(actions):
            raise LeaseLostError(job_id)

    def save_shard(
        self,
        job_id: str,
        token: str,
        shard: ListingShard,
        lease_s: float,
        seq: int,
        left_out: Tally | None = None,
    ) -> None:
        """Save the shard's checkpoint as it stands (its last group sent, or its range listed
        to the end), adding what its listing ``left_out`` since its last group to the job's."""
        actions = [
            self._shard_update(job_id, shard, seq),
            self._totals_update(job_id, token, lease_s, left_out=left_out or Tally()),
        ]
        if not self._transact(actions):
            raise LeaseLostError(job_id)

    def complete_sharded(self, job_id: str, token: str, shards: list[ListingShard]) -> None:
        """The job's listing is complete: only if every shard's is, checked in the same
        transaction (at most 99 shards, so 64 is the setting's bound)."""
        actions: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "Key": shard_item_key(job_id, shard.index),
                    "ConditionExpression": "complete = :yes",
                    "ExpressionAttributeValues": {":yes": {"BOOL": True}},
                }
            }
            for shard in shards
        ]
        actions.append(
            {
                "Update": {
                    "Key": job_key(job_id),
                    "UpdateExpression": "SET l_complete = :yes, updated_at = :now",
                    "ConditionExpression": "#state = :running AND lease_owner = :me",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":yes": {"BOOL": True},
                        ":now": n(self.now()),
                        ":running": _RUNNING,
                        ":me": s(token),
                    },
                }
            }
        )
        if not self._transact(actions):
            raise LeaseLostError(job_id)

    def _shard_update(self, job_id: str, shard: ListingShard, seq: int) -> dict[str, Any]:
        checkpoint = shard.checkpoint
        values: Item = {
            ":next": n(checkpoint.next_seq),
            ":group": n(checkpoint.group_start),
            ":complete": {"BOOL": checkpoint.complete},
            ":seen": n(seq),
            ":no": {"BOOL": False},
        }
        sets = "next_seq = :next, group_start = :group, complete = :complete"
        if checkpoint.start_after is not None:
            sets += ", start_after = :after"
            values[":after"] = s(checkpoint.start_after)
        return {
            "Update": {
                "Key": shard_item_key(job_id, shard.index),
                "UpdateExpression": f"SET {sets}",
                "ConditionExpression": "next_seq = :seen AND complete = :no",
                "ExpressionAttributeValues": values,
            }
        }

    def _totals_update(
        self,
        job_id: str,
        token: str,
        lease_s: float,
        *,
        left_out: Tally,
        batches: int = 0,
        objects: int = 0,
        bytes_: int = 0,
    ) -> dict[str, Any]:
        now = self.now()
        tally = left_out.model_dump()
        adds = ", ".join(
            [
                "l_next_seq :batches",
                "l_objects :objects",
                "l_bytes :bytes",
                *(f"{TALLY_ATTRIBUTES[name]} :t_{name}" for name in tally),
            ]
        )
        return {
            "Update": {
                "Key": job_key(job_id),
                "UpdateExpression": (
                    f"ADD {adds} SET lease_until = :until, updated_at = :now, resumes = :zero"
                ),
                "ConditionExpression": (
                    "#state = :running AND lease_owner = :me AND l_complete = :no"
                ),
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":batches": n(batches),
                    ":objects": n(objects),
                    ":bytes": n(bytes_),
                    **{f":t_{name}": n(value) for name, value in tally.items()},
                    ":until": n(now + lease_s),
                    ":now": n(now),
                    ":zero": n(0),
                    ":running": _RUNNING,
                    ":me": s(token),
                    ":no": {"BOOL": False},
                },
            }
        }
