"""A part batch sent twice (the parent's copier killed between sending its part batches and
noting them sent; the parent redelivered sends them again), one copy held by a live copier whose
part copies take a while: the duplicate, hidden until the live claim runs out each time, spends
its deliveries and is dead-lettered; the sweep hides it while the claim lives, and the object
is copied. The sweep once failed the healthy object (DeadLettered) there (this test failed)."""

from __future__ import annotations

import threading
from typing import Any

from split_helpers import (
    PARENT,
    calls_of,
    copier,
    counts,
    dispatched,
    drain,
    kind,
    listed_huge,
    show,
    take,
)

from copier.fates import Fate
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources

MAX_RECEIVE = 10  # infra/template.yaml WorkMaxReceiveCount default


def test_a_live_holders_part_batch_is_not_failed_by_its_duplicates_dead_letter(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    body = listed_huge(s3, make_runner)
    holder_s3, _ = calls_of(aws)
    dispatched(aws, sqs, store, resources)
    messages = {kind(m): m for m in take(sqs, resources)}
    first = messages[f"{PARENT}.p0001"]
    # the duplicate the redelivered parent sent
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
    (dup,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]

    release = threading.Event()
    started = threading.Event()

    def slow(**_: Any) -> None:
        started.set()
        release.wait(20)  # a long part copy; the guard only bounds a hang

    holder_s3.meta.events.register("before-call.s3.UploadPartCopy", slow)
    with copier(aws, resources, store, holder_s3) as holder, copier(aws, resources, store) as other:
        owner = holder.split.owner
        t = threading.Thread(target=holder.handle, args=(first,))
        t.start()
        started.wait(20)
        # the duplicate is delivered again and again while the holder copies (its claim renewed
        # every visibility/2 as _wait does; the test renews it for the fake clock)
        hides = []
        for _ in range(MAX_RECEIVE):
            store.uploads.claim_part("job-1", f"{PARENT}.p0001", owner, clock() + 30)
            decision = other.handle(dup)
            assert decision.fate is Fate.LATER
            hides.append(decision.hide_s)
            clock.advance(decision.hide_s)
            show(sqs, resources, [dup])
            again = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
            if not again:
                break  # moved to the dead-letter queue by the queue's redrive policy
            (dup,) = again
        store.uploads.claim_part("job-1", f"{PARENT}.p0001", owner, clock() + 30)
        assert hides == [30] * len(hides)
        refresh(store, sqs, resources)
        record = store.uploads.get("job-1", PARENT)
        assert record is not None and record.failure is None
        release.set()
        t.join()
        # the other part batches come back (their visibility runs out) and are copied
        show(sqs, resources, [m for name, m in messages.items() if name != f"{PARENT}.p0001"])
        drain(other, sqs, resources)
    # THEN the healthy object is copied, not failed
    assert counts(store) == (1, 0, 1)
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
