"""A copier killed mid part copy: its part batch comes back while the dead copier's claim still
runs for a few seconds, and is hidden only until that claim runs out. It was once hidden for
SQS's maximum, 11 hours (this test failed)."""

from __future__ import annotations

from typing import Any

import pytest
from split_helpers import PARENT, calls_of, copier, dispatched, kind, listed_huge, show, take

from copier.fates import Fate
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources


def test_a_dead_copiers_part_batch_is_hidden_only_until_its_claim_runs_out(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    # GIVEN a huge object's part batches in the queue
    listed_huge(s3, make_runner)
    dying_s3, _ = calls_of(aws)
    dispatched(aws, sqs, store, resources)
    messages = {kind(m): m for m in take(sqs, resources)}
    first = messages[f"{PARENT}.p0001"]

    def killed(**_: Any) -> None:
        raise RuntimeError("copier killed mid part copy")

    dying_s3.meta.events.register("before-call.s3.UploadPartCopy", killed)
    # WHEN a copier claims the first part batch and is killed while copying it
    with copier(aws, resources, store, dying_s3) as dying, pytest.raises(RuntimeError):
        dying.handle(first)
    claim = store.uploads.part("job-1", f"{PARENT}.p0001")
    assert claim is not None and clock() < claim.claim_until <= clock() + 30
    # AND SQS gives its message to another copier 20 s later (its visibility ran out first)
    clock.advance(20)
    show(sqs, resources, [first])
    (again,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
    with copier(aws, resources, store) as next_one:
        decision = next_one.handle(again)
    # THEN it is looked at again once the dead copier's claim has run out (about 10 s), not
    # after SQS's 11-hour maximum: the huge object (and its job) would wait half a day
    assert decision.fate is Fate.LATER
    assert decision.hide_s is not None and decision.hide_s <= 11
