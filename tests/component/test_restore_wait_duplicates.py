"""A waiting remainder sent again by whoever finds its parent counted (a late duplicate of the
parent) waits as long as the first send would have: looks stay restore_poll_s apart, and the
restore is given its whole max_restore_waits time (SQS simulated on a virtual clock)."""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import pytest
from moto_helpers import job_message, receive_all

import copier.restore
from copier.process import built_worker
from s3migrator.settings import Settings

POLL, WAITS, VISIBILITY = 900, 8, 120


def test_waiting_chain_waits_as_long_as_promised(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"x", StorageClass="DEEP_ARCHIVE")
    make_runner().run(job_message("job-1", archived="restore"))
    (root,) = receive_all(sqs, resources.work_queue_url)
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=root["ReceiptHandle"])

    now = [0.0]
    queue: list[tuple[float, int, str, int]] = []  # (due, seq, body, receive count)
    seq = itertools.count()
    looks: list[float] = []
    timed_out: list[float] = []

    def never_restored(clients: Any, spec: Any, item: Any) -> None:
        looks.append(now[0])
        raise copier.restore.RestoreWaiting(item.key)

    settings = Settings(restore_poll_s=POLL, max_restore_waits=WAITS, copy_concurrency=2)
    with (
        pytest.MonkeyPatch.context() as patch,
        built_worker(settings, aws, resources, store=store, s3=s3) as worker,
    ):
        patch.setattr(copier.restore, "restored", never_restored)
        patch.setattr(
            worker,
            "_send",
            lambda batch, delay: heapq.heappush(
                queue, (now[0] + delay, next(seq), batch.body(), 1)
            ),
        )
        real_count = store.batches.count

        def watched(batch: Any, outcome: Any, remainder: Any = None) -> bool:
            counted = real_count(batch, outcome, remainder)
            if counted and any(f.code == "RestoreTimeout" for f in outcome.failures):
                timed_out.append(now[0])
            return counted

        patch.setattr(store.batches, "count", watched)

        def deliver(body: str, receives: int) -> str:
            message = {
                "MessageId": str(next(seq)),
                "ReceiptHandle": "r",
                "Body": body,
                "Attributes": {"ApproximateReceiveCount": str(receives)},
            }
            return worker._process(message).reason

        # t=0: the root batch, counted; its copier dies before deleting the message
        deliver(root["Body"], 1)
        # t=120: SQS delivers the root again
        now[0] = VISIBILITY
        deliver(root["Body"], 2)
        while queue:
            due, _, body, receives = heapq.heappop(queue)
            now[0] = max(now[0], due)
            deliver(body, receives)
    assert len(timed_out) == 1
    # the object was to wait max_restore_waits polls of restore_poll_s before timing out
    assert timed_out[0] >= WAITS * POLL, (
        f"RestoreTimeout after {timed_out[0]:.0f}s, promised {WAITS * POLL}s"
    )
