"""The last group a run defined, sent again by the next run.

A run that dies between defining a group of batches and sending it (or before its checkpoint
says it sent it) leaves the group to the next run, which sends each batch not counted yet again,
as the same keys, marked ``resent`` (a copier may have copied them from the first message). A
listing batch is listed again first: when its range changed at the source meanwhile, it is
replaced (void, and new batches for what the range holds now), so an id never names two sets of
keys. A sync's batches carry their items (they depend on the destination too, which their own
copies change), and go again as they were defined.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from coordinator.batching import batch_id, limits, pack
from s3migrator.work import BatchRecord, BatchState, WorkBatch, batch_digest

if TYPE_CHECKING:
    from coordinator.sieve import Sieve
    from s3migrator.jobstore import JobStore
    from s3migrator.models import CopySpec, ListingCheckpoint
    from s3migrator.settings import Settings

log = logging.getLogger(__name__)


def last_group_again(
    store: JobStore,
    settings: Settings,
    token: str,
    spec: CopySpec,
    checkpoint: ListingCheckpoint,
    relist: Callable[[], Sieve],
    shard: int | None = None,
) -> list[WorkBatch]:
    """The batches of the last group to send again (``relist`` makes a sieve of the job's
    plan, without the destination); the checkpoint's totals follow any replacement, what the
    listing left out too. ``shard``: the group is that listing shard's (its own id series)."""
    job_id = spec.job_id
    ids = [
        batch_id(job_id, seq, shard=shard)
        for seq in range(checkpoint.group_start, checkpoint.next_seq)
    ]
    records = store.batches.get_many(job_id, ids)
    again: list[WorkBatch] = []
    for id_ in ids:
        record = records.get(id_)
        if record is not None and record.state is BatchState.VOID and record.replacements:
            # Replaced by a run that may have died before sending the replacements.
            again.extend(_replacements_left(store, spec, record))
            continue
        if record is None or record.state is not BatchState.DEFINED:
            continue
        if record.last is None:
            if record.items is not None:
                again.append(record.carried(spec, resent=True))
            continue
        sieve = relist()
        items = list(sieve.items(record.after, through=record.last))
        if batch_digest(items) == record.digest:
            again.append(WorkBatch.of(id_, spec, items).model_copy(update={"resent": True}))
            continue
        replacements = [
            # A copier may have copied part of the batch they replace.
            WorkBatch.of(f"{id_}+{n}", spec, part.items).model_copy(update={"resent": True})
            for n, part in enumerate(
                pack(
                    items,
                    spec,
                    first_seq=0,
                    together=sieve.plan.versions == "all",
                    **limits(settings),
                )
            )
        ]
        if store.void_and_replace(
            job_id, token, record, replacements, settings.lease_s, sieve.running
        ):
            log.info("job %s: %s changed at the source; replaced", job_id, id_)
            checkpoint.objects += sum(len(b.items) for b in replacements) - record.count
            checkpoint.bytes += (
                sum(i.bytes_to_copy for b in replacements for i in b.items) - record.bytes
            )
            checkpoint.tally = checkpoint.tally.plus(sieve.running.minus(record.tally))
            again.extend(replacements)
    return again


def _replacements_left(store: JobStore, spec: CopySpec, void: BatchRecord) -> list[WorkBatch]:
    ids = [f"{void.batch_id}+{n}" for n in range(void.replacements)]
    found = store.batches.get_many(spec.job_id, ids)
    return [
        record.carried(spec, resent=True)
        for record in found.values()
        if record.state is BatchState.DEFINED and record.items
    ]
