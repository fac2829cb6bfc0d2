"""The coordinator's side of the job table: the run's lease, batch definitions, checkpoints,
resumes.

A run holds the job's lease with a token of its own. Before it sends a group of batches it
defines them: one transaction records each batch (its range and digest) and moves the checkpoint
past them, so a batch id names one set of keys before any copier can see it, and a run that
dies after defining and before sending leaves the group for the next run to send again
(``ListingCheckpoint.group_start``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from s3migrator.aws_errors import translated
from s3migrator.errors import ConditionFailedError, LeaseLostError
from s3migrator.jobstore.codec import (
    TALLY_ATTRIBUTES,
    Item,
    batch_item,
    batch_key,
    job_key,
    listing_attributes,
    n,
    new_batch_put,
    s,
    shard_key,
)
from s3migrator.jobstore.listing_shards import ShardListingWrites
from s3migrator.models import JobState, ListingCheckpoint
from s3migrator.selection import Tally
from s3migrator.work import BatchRecord, WorkBatch, shard_of

MAX_ERROR_CHARS = 2000
_RUNNING = s(JobState.RUNNING.value)


class ListingWrites(ShardListingWrites):  # a sharded listing's writes too
    def acquire_lease(self, job_id: str, token: str, lease_s: float) -> bool:
        """Take the right to list this job for one run (``token``); False while another run
        holds a live lease. A run's token is its own: no other run, even in the same process,
        can renew or use it."""
        now = self._clock()
        return self._update(
            job_key(job_id),
            "SET lease_owner = :me, lease_until = :until",
            "attribute_exists(pk) AND (attribute_not_exists(lease_owner)"
            " OR lease_owner = :me OR lease_until < :now)",
            {":me": s(token), ":until": n(now + lease_s), ":now": n(now)},
        )

    def renew_lease(self, job_id: str, token: str, lease_s: float) -> None:
        """Keep the lease during long steps; LeaseLostError when another run took it."""
        if not self._update(
            job_key(job_id),
            "SET lease_until = :until",
            "lease_owner = :me",
            {":me": s(token), ":until": n(self._clock() + lease_s)},
        ):
            raise LeaseLostError(job_id)

    def release_lease(self, job_id: str, token: str) -> None:
        """Give the lease up at once (on a graceful stop) so another coordinator need not wait."""
        self._update(
            job_key(job_id),
            "SET lease_until = :zero",
            "lease_owner = :me",
            {":zero": n(0), ":me": s(token)},
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
        update = self._checkpoint_update(job_id, token, checkpoint, lease_s, seq)
        if not self._write_if(lambda: self._ddb.update_item(TableName=self._table, **update)):
            raise LeaseLostError(job_id)

    def schedule_resume(
        self,
        job_id: str,
        token: str,
        due: float,
        error: str | None = None,
        *,
        failed: bool = True,
        progressed: bool = False,
    ) -> int:
        """Record, for the run holding the lease (``token``), that a resume message is on its
        way (due then), and why; returns how many failed resumes the job has had since its
        listing last moved, or 0 when the run no longer holds the job (another run took it
        over, or it ended): that run then sends nothing. A graceful stop (``failed`` False) is
        not counted as a failure; one that ``progressed`` (a migration's step that got on and
        waits) starts the failures again from none."""
        values: Item = {":due": n(due), ":running": _RUNNING, ":me": s(token)}
        sets = ["resume_due = :due"]
        if error is not None:
            sets.append("last_error = :error")
            values[":error"] = s(error[:MAX_ERROR_CHARS])
        if progressed:
            sets.append("resumes = :zero")
            values[":zero"] = n(0)
        expression = "SET " + ", ".join(sets)
        if failed:
            expression += " ADD resumes :one"
            values[":one"] = n(1)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": job_key(job_id),
            "UpdateExpression": expression,
            "ConditionExpression": "#state = :running AND lease_owner = :me",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        try:
            updated = self._retried(lambda: self._ddb.update_item(**kwargs))
        except ConditionFailedError:
            return 0
        return max(1, int(updated["Attributes"].get("resumes", {}).get("N", "0")))

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
        return self._update(
            job_key(job_id),
            "SET resume_due = :due ADD resumes :one",
            condition,
            values,
            {"#state": "state"},
        )

    def define_group(
        self,
        job_id: str,
        token: str,
        checkpoint: ListingCheckpoint,
        lease_s: float,
        seq: int,
        group: list[tuple[WorkBatch, str | None]],
        *,
        ranged: bool = True,
        tallies: list[Tally] | None = None,
    ) -> None:
        """Record a group of listing batches (each with the key its range starts after) and
        move the checkpoint past them, in one transaction; LeaseLostError if the run lost the
        lease or its idea of the listing is behind. Not ``ranged`` (a sync's), a batch keeps
        its items instead of its range: listing the range again could not tell them."""
        actions: list[dict[str, Any]] = [
            {"Update": self._checkpoint_update(job_id, token, checkpoint, lease_s, seq)}
        ]
        for index, (batch, after) in enumerate(group):
            tally = tallies[index] if tallies is not None else None
            actions.append(new_batch_put(batch, after=after, listed=ranged, tally=tally))
        if not self._transact(actions):
            raise LeaseLostError(job_id)

    def define_batches(self, batches: list[WorkBatch]) -> None:
        """Record batches that carry their own items (a redrive's); one defined the same way
        before (a redrive run again) is left as it is."""
        for batch in batches:
            put = partial(
                self._ddb.put_item,
                TableName=self._table,
                Item=batch_item(batch, after=None, last=None, listed=False),
                ConditionExpression="attribute_not_exists(sk)",
            )
            self._write_if(put)

    def void_and_replace(
        self,
        job_id: str,
        token: str,
        old: BatchRecord,
        replacements: list[WorkBatch],
        lease_s: float,
        tally: Tally | None = None,
    ) -> bool:
        """Replace a batch defined but not counted whose range changed at the source: the old
        record becomes void (done, counting nothing), the replacements are defined, and the
        listing's totals follow, what it left out too (``tally``: what the range's new listing
        left out); False when the old batch was counted (or voided) meanwhile."""
        delta_tally = (tally or old.tally).minus(old.tally).model_dump()
        delta_objects = sum(len(b.items) for b in replacements) - old.count
        delta_bytes = sum(i.bytes_to_copy for b in replacements for i in b.items) - old.bytes
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": batch_key(job_id, old.batch_id),
                    # How many replaced it, so a run that finds it void sends them again.
                    "UpdateExpression": "SET #state = :void, replacements = :count",
                    "ConditionExpression": "#state = :defined AND digest = :digest",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":void": s("void"),
                        ":count": n(len(replacements)),
                        ":defined": s("defined"),
                        ":digest": s(old.digest),
                    },
                }
            },
            {
                "Update": {
                    "Key": shard_key(job_id, shard_of(old.batch_id)),
                    "UpdateExpression": "ADD batches_done :one, batches_spawned :spawned",
                    "ExpressionAttributeValues": {":one": n(1), ":spawned": n(len(replacements))},
                }
            },
            {
                "Update": {
                    "Key": job_key(job_id),
                    "UpdateExpression": (
                        "ADD l_objects :objects, l_bytes :bytes, "
                        + ", ".join(f"{TALLY_ATTRIBUTES[k]} :t_{k}" for k in delta_tally)
                        + " SET lease_until = :until"
                    ),
                    "ConditionExpression": "lease_owner = :me",
                    "ExpressionAttributeValues": {
                        ":objects": n(delta_objects),
                        ":bytes": n(delta_bytes),
                        **{f":t_{k}": n(v) for k, v in delta_tally.items()},
                        ":me": s(token),
                        ":until": n(self.now() + lease_s),
                    },
                }
            },
        ]
        actions.extend(new_batch_put(batch) for batch in replacements)
        return self._transact(actions)

    def _checkpoint_update(
        self, job_id: str, token: str, checkpoint: ListingCheckpoint, lease_s: float, seq: int
    ) -> dict[str, Any]:
        now = self.now()
        attributes = listing_attributes(checkpoint)
        values: Item = {f":{name}": value for name, value in attributes.items()}
        values.update(
            {
                ":me": s(token),
                ":until": n(now + lease_s),
                ":now": n(now),
                ":seen": n(seq),
                ":no": {"BOOL": False},
                ":zero": n(0),
            }
        )
        assignments = ", ".join(f"{name} = :{name}" for name in attributes)
        return {
            "Key": job_key(job_id),
            "UpdateExpression": (
                f"SET {assignments}, lease_until = :until, updated_at = :now, resumes = :zero"
            ),
            "ConditionExpression": (
                "#state = :running AND lease_owner = :me AND l_next_seq = :seen"
                " AND l_complete = :no"
            ),
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {**values, ":running": _RUNNING},
        }
