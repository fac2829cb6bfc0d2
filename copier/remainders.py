"""The batch a counted batch's undecided objects go on in: those that failed transiently (one
more attempt, counted on each of them) and those waiting for their restore (one more wait, no
attempt used up).

Its id is ``{root}~{attempt}``, with ``.w{waits}`` once some of its objects have waited: each
remainder of a chain has a greater attempt or more waits than the batch before it, so no id
names two sets of keys.
"""

from __future__ import annotations

from copier.restore import RESTORE_TIMEOUT
from s3migrator.failures import FailureRecord
from s3migrator.work import WorkBatch, WorkItem


def remainder_of(
    batch: WorkBatch, transient: list[WorkItem], waiting: list[WorkItem]
) -> WorkBatch | None:
    if not transient and not waiting:
        return None
    attempt = batch.attempt + 1 if transient else batch.attempt
    waits = batch.waits + 1 if waiting else batch.waits
    root = batch.batch_id.split("~", 1)[0]
    remainder = WorkBatch.of(
        f"{root}~{attempt}" + (f".w{waits}" if waits else ""),
        batch.spec,
        # In listing order, as the batch had them.
        [
            item.model_copy(update={"tries": item.tries + 1}) if item in transient else item
            for item in batch.items
            if item in transient or item in waiting
        ],
        attempt=attempt,
        epoch=batch.epoch,
        redrive=batch.redrive,
    )
    return remainder.model_copy(update={"waits": waits})


def restore_timeout(item: WorkItem, batch: WorkBatch) -> FailureRecord:
    return item.failure(
        RESTORE_TIMEOUT,
        f"still being restored after {batch.waits} looks; restore it, then redrive",
        attempts=item.attempt,
    )
