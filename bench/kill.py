"""A copier killed while it holds batches: how long until its work is counted by another.

A job runs with two copiers. Once a third of its objects have landed, one copier is killed with
SIGKILL (no clean-up of any kind), and the batches in flight at that instant are read at the
server (the work queue's messages received and not yet deleted: the killed copier's, and the
survivor's own). The figure is the time from the kill until every one of them is counted in
DynamoDB; beside it, until the stranded ones (those received again) were visible again in the
queue, and until every one was back in play (received again by the survivor, or counted). The
killed copier's come back into the queue when their visibility runs out (at most
``work_visibility_s`` after its last extension) and the survivor takes and counts them. The
survivor's own are counted sooner, so each figure bounds the killed copier's from above.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from bench.job import Stack, _until
from bench.measure import Watch, cpu_seconds
from bench.server import ACCOUNT, REGION
from s3migrator.work import BatchState

KILL_AT = 1 / 3  # of the objects landed
# Batches of 100 keys: the 2,000 objects make 20 batches, so that each copier holds some when
# one is killed (batches of the default 1,000 keys would be two, both perhaps the survivor's).
KILL_RUN_BATCH_KEYS = "100"


def _in_flight(queue_url: str) -> dict[str, tuple[Any, int]]:
    """The work queue's messages received and not deleted, read at the server: by batch id,
    each message and how many times it had been received."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues[queue_url.rsplit("/", 1)[-1]]
    now = unix_time_millis()
    held = [m for m in list(queue._messages) if not now > m.visible_at]
    return {json.loads(m.body)["batch_id"]: (m, m.approximate_receive_count) for m in held}


def kill_run(
    stack: Stack, *, source: str, destination: str, objects: int, logs: Path, timeout_s: float = 300
) -> dict[str, Any]:
    runner = stack.runner(2, {"S3MIGRATOR_BATCH_MAX_KEYS": KILL_RUN_BATCH_KEYS}, logs)
    store = stack.store()
    runner.start()
    runner.scale_to(2)
    try:
        watch = Watch(lambda: stack.server.count(destination), objects, lambda: 0.0, timeout_s)
        watch.start()
        job_id = stack.submit(source, destination)
        _until(
            "a third of the objects",
            lambda: stack.server.count(destination) >= objects * KILL_AT,
            timeout_s,
            every_s=0.01,
        )
        victim = runner.copiers[0]
        victim_cpu = cpu_seconds(victim.pid)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        held = _in_flight(stack.resources.work_queue_url)
        counted_at: dict[str, float] = {}
        # Back in play: received again by the survivor (the killed copier's), or counted (the
        # survivor's own, which it deletes and so never receives again).
        in_play_at: dict[str, float] = {}

        # Visible again in the queue, for any copier to take (seen at the server).
        visible_at: dict[str, float] = {}

        def all_counted() -> bool:
            from moto.core.utils import unix_time_millis

            now = time.monotonic() - killed_at
            now_ms = unix_time_millis()
            for batch_id, (message, received) in held.items():
                again = message.approximate_receive_count > received
                if batch_id not in visible_at and (again or now_ms > message.visible_at):
                    visible_at[batch_id] = now
                if batch_id not in in_play_at and again:
                    in_play_at[batch_id] = now
            waiting = [b for b in held if b not in counted_at]
            for batch_id, record in store.batches.get_many(job_id, waiting).items():
                if record.state is BatchState.COUNTED:
                    counted_at[batch_id] = time.monotonic() - killed_at
                    in_play_at.setdefault(batch_id, counted_at[batch_id])
            return len(counted_at) == len(held)

        _until("the batches in flight at the kill counted", all_counted, timeout_s, every_s=0.05)
        watch.wait()

        def done() -> bool:
            record = store.get_job(job_id)
            if record is not None and record.state.is_final:
                return True
            runner.refresh_now()
            return False

        _until("the job's end", done, timeout_s, every_s=1.0)
        final = store.get_job(job_id)
        assert final is not None
    finally:
        runner.shutdown()
    times = sorted(counted_at.values())
    in_play = sorted(in_play_at.values())
    stranded = [b for b, (m, n) in held.items() if m.approximate_receive_count > n]
    visible = sorted(visible_at[b] for b in stranded if b in visible_at)
    return {
        "job_id": job_id,
        "objects": objects,
        "state": final.state.value,
        "objects_copied": final.counters.objects_copied,
        "objects_failed": final.counters.objects_failed,
        "killed_after_s": round(killed_at - watch.timeline.started, 2),
        "killed_copier_cpu_s": round(victim_cpu, 2),
        "batches_in_flight_at_kill": len(held),
        "received_again": sum(1 for b, (m, n) in held.items() if m.approximate_receive_count > n),
        "all_in_play_s": round(in_play[-1], 2) if in_play else 0.0,
        "stranded_visible_again_s": round(visible[-1], 2) if visible else None,
        "first_counted_s": round(times[0], 2) if times else None,
        "all_counted_s": round(times[-1], 2) if times else 0.0,
        "wall_s": round(watch.timeline.wall_s, 2),
    }
