"""s3migrator itself: a real job message run by real coordinator and copier processes.

The processes are the embedded stack's (``LocalRunner``: the same command lines, environment
and progress timer as ``s3migrator local up``), with the copier count fixed at K instead of
autoscaled, so that 1, 2 and 4 copiers can be compared.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Watch, cpu_seconds, peak_rss_mib
from bench.server import BenchServer
from s3migrator.aws import Aws
from s3migrator.cli.local.runner import LocalRunner
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobRecord, Location, Mode
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.sqs.queues import queue_depth, send_job

# The bench's own reads of the job (is it done yet?) carry this in their User-Agent, so that the
# request counts leave them out: they are the bench's, not the job's.
BENCH_AGENT = "s3migrator-bench-watch"
NEVER_S = 1e9  # the autoscaler's period: the bench sets the copier count itself
# The progress function's period, as the stack schedules it on AWS (rate(1 minute)) rather than
# the embedded stack's 2 s: its reads depend on time, not on objects. A job's end is seen at
# once all the same: the bench asks for a refresh then, as the function's URL does.
PROGRESS_EVERY_S = 60.0
POLL_S = 0.05


@dataclass
class Stack:
    server: BenchServer
    aws: Aws
    resources: Resources
    stack_name: str = "s3migrator"

    def store(self) -> JobStore:
        client = self.aws.session.client(
            "dynamodb",
            region_name=self.aws.region,
            config=self.aws.config(user_agent_extra=BENCH_AGENT),
        )
        return JobStore(client, self.resources.table_name)

    def runner(self, copiers: int, env: dict[str, str], logs: Path) -> LocalRunner:
        return LocalRunner(
            self.aws,
            self.resources,
            env={**self.server.env(), "S3MIGRATOR_WAIT_TIME_S": "2", **env},
            max_copiers=copiers,
            scale_every_s=NEVER_S,
            progress_every_s=PROGRESS_EVERY_S,
            log_dir=logs,
            stack_name=self.stack_name,
        )

    def submit(self, source: str, destination: str) -> str:
        job = send_job(
            self.aws.sqs(),
            self.resources.jobs_queue_url,
            JobMessage(
                mode=Mode.COPY,
                source=Location(bucket=source),
                destination=Location(bucket=destination),
            ),
        )
        assert job.job_id is not None
        return job.job_id


def _until(what: str, test: Any, timeout_s: float, every_s: float = POLL_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f}s")


def copy_run(
    stack: Stack,
    *,
    copiers: int,
    source: str,
    destination: str,
    objects: int,
    logs: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 600,
) -> dict[str, Any]:
    """One copy job; CPU and requests are the coordinator's and the K copiers'."""
    runner = stack.runner(copiers, env or {}, logs)
    store = stack.store()
    runner.start()
    runner.scale_to(copiers)

    def pids() -> list[int]:
        assert runner.coordinator is not None
        return [runner.coordinator.pid, *(p.pid for p in runner.copiers)]

    try:
        watch = Watch(
            lambda: stack.server.count(destination),
            objects,
            lambda: sum(cpu_seconds(pid) for pid in pids()),
            timeout_s,
            share=lambda: sum(cpu_seconds(p.pid) for p in runner.copiers),
        ).start()
        job_id = stack.submit(source, destination)
        timeline = watch.wait()

        def counted() -> JobRecord | None:
            record = store.get_job(job_id)
            done = record is not None and record.counters.objects_copied >= objects
            return record if done else None

        _until("every batch counted", counted, timeout_s)
        counted_s = time.monotonic() - timeline.started
        # Read before they stop: idle after this, apart from their receive polls.
        assert runner.coordinator is not None
        coordinator_cpu = cpu_seconds(runner.coordinator.pid)
        copier_cpu = sum(cpu_seconds(p.pid) for p in runner.copiers)
        coordinator_rss = peak_rss_mib(runner.coordinator.pid)
        copier_rss = max(peak_rss_mib(p.pid) for p in runner.copiers)

        def succeeded() -> JobRecord | None:
            record = store.get_job(job_id)
            if record is not None and record.state.is_final:
                return record
            runner.refresh_now()
            return None

        final = _until("the job's end", succeeded, timeout_s, every_s=1.0)
        finished_s = time.monotonic() - timeline.started
    finally:
        runner.shutdown()
    cpu_s = coordinator_cpu + copier_cpu
    steady = timeline.as_dict()
    # `steady_share_cpu_ms_per_object` is the copiers' own share of the steady state's CPU.
    return {
        "tool": f"s3migrator, {copiers} copier{'s' if copiers > 1 else ''}",
        "copiers": copiers,
        "job_id": job_id,
        "state": final.state.value,
        "objects_copied": final.counters.objects_copied,
        "objects_failed": final.counters.objects_failed,
        "batches": final.listing.next_seq,
        **steady,
        "objects_per_s": round(objects / timeline.wall_s, 1),
        "all_counted_s": round(counted_s, 3),
        "job_succeeded_s": round(finished_s, 3),
        "client_cpu_s": round(cpu_s, 3),
        "coordinator_cpu_s": round(coordinator_cpu, 3),
        "copier_cpu_s": round(copier_cpu, 3),
        "cpu_ms_per_object": round(1000 * cpu_s / objects, 3),
        "copier_cpu_ms_per_object": round(1000 * copier_cpu / objects, 3),
        "copier_steady_cpu_ms_per_object": steady["steady_share_cpu_ms_per_object"],
        "coordinator_peak_rss_mib": round(coordinator_rss, 1),
        "copier_peak_rss_mib": round(copier_rss, 1),
        "processes": 1 + copiers,
    }


def enumeration_run(
    stack: Stack, *, source: str, keys: int, logs: Path, timeout_s: float = 900
) -> dict[str, Any]:
    """A job whose listing runs with no copier: from the job message to its last batch in the
    work queue, with the backlog cap raised so the listing never waits for copiers."""
    batch_keys = Settings().batch_max_keys
    expected_batches = math.ceil(keys / batch_keys)
    env = {"S3MIGRATOR_MAX_BACKLOG_BATCHES": str(expected_batches + 100)}
    runner = stack.runner(0, env, logs)
    store = stack.store()
    sqs = stack.aws.sqs()
    runner.start()
    try:
        started = time.monotonic()
        job_id = stack.submit(source, f"{source}-copy")

        def listed() -> JobRecord | None:
            record = store.get_job(job_id)
            return record if record is not None and record.listing.complete else None

        # Looked at less often: each look is a request the same server answers.
        record = _until("the listing's end", listed, timeout_s, every_s=0.25)
        wall_s = time.monotonic() - started
        assert runner.coordinator is not None
        pid = runner.coordinator.pid
        rss, cpu = peak_rss_mib(pid), cpu_seconds(pid)
        visible, in_flight = queue_depth(sqs, stack.resources.work_queue_url)
    finally:
        runner.shutdown()
    # The batches stay unclaimed: empty the queue so that no later run meets them.
    sqs.purge_queue(QueueUrl=stack.resources.work_queue_url)
    return {
        "keys": keys,
        "listed": record.listing.objects,
        "batches": record.listing.next_seq,
        "batches_in_queue": visible + in_flight,
        "wall_s": round(wall_s, 2),
        "keys_per_s": round(keys / wall_s, 1),
        "coordinator_cpu_s": round(cpu, 2),
        "coordinator_cpu_us_per_key": round(1e6 * cpu / keys, 1),
        "coordinator_peak_rss_mib": round(rss, 1),
    }
