"""``s3migrator demo``: the copy scenario end to end on the embedded stack.

Starts moto on loopback, deploys the template, fills a source bucket, submits the job message as
a user would, runs the coordinator and autoscaled copiers as separate processes with the progress
function on a timer, then verifies the destination against the source.
"""

from __future__ import annotations

import os
import random
import threading
import time
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from coordinator.verify import verify, verifying_client
from progress.process import build_progress
from s3migrator.aws import make_aws
from s3migrator.cli.dashboard import DashboardServer
from s3migrator.cli.deployment import deploy
from s3migrator.cli.local.runner import LocalRunner
from s3migrator.cli.local.server import MotoServer, local_env
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, JobRecord, JobState, Location, Mode
from s3migrator.resources import resolve
from s3migrator.settings import MiB, Settings
from s3migrator.sqs.queues import send_job

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A lowered multipart threshold so a few demo objects take the multipart path.
DEMO_THRESHOLD_BYTES = 8 * MiB
DEMO_PART_BYTES = 5 * MiB


@dataclass(frozen=True)
class DemoObject:
    key: str
    size: int


def demo_objects(count: int, large: int = 3, seed: int = 7) -> list[DemoObject]:
    """Mixed sizes: mostly small, some medium, ``large`` above the demo's multipart threshold."""
    rng = random.Random(seed)
    objects = [
        DemoObject(f"large/video-{i:02d}.bin", DEMO_THRESHOLD_BYTES + rng.randint(1, 3) * 2 * MiB)
        for i in range(min(large, count))
    ]
    folders = ["photos/2024", "photos/2025", "logs/app", "reports", "raw data"]
    for i in range(count - len(objects)):
        roll = rng.random()
        size = (
            0
            if roll < 0.01
            else rng.randint(1, 16 * 1024)
            if roll < 0.8
            else rng.randint(16 * 1024, 256 * 1024)
        )
        objects.append(DemoObject(f"{folders[i % len(folders)]}/object {i:05d}+v1.dat", size))
    return objects


def fill_bucket(s3: S3Client, bucket: str, objects: list[DemoObject], workers: int = 8) -> int:
    s3.create_bucket(Bucket=bucket)

    def put(obj: DemoObject) -> int:
        s3.put_object(Bucket=bucket, Key=obj.key, Body=os.urandom(obj.size))
        return obj.size

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(put, objects))


def watch(store: JobStore, job_id: str, console: Console, timeout_s: float) -> JobRecord:
    """A progress bar over the job's own counters until the progress function finishes it."""
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[percent]:>3}%"),
        MofNCompleteColumn(),
        TextColumn("objects"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("copying", total=None, percent=0)
        while True:
            record = store.get_job(job_id)
            if record is not None:
                counters = record.counters
                bar.update(
                    task,
                    description=f"{record.phase.value:<17}",
                    total=record.listing.objects or None,
                    completed=counters.done,
                    percent=record.percent,
                )
                if record.state.is_final:
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish in {timeout_s:.0f}s")
            time.sleep(0.5)


def run_demo(
    *,
    objects: int,
    workers: int,
    console: Console,
    stack_name: str = "s3migrator",
    log_dir: Path | None = None,
    timeout_s: float = 1800,
    dashboard: bool = False,
) -> int:
    with MotoServer() as server:
        env = local_env(server.endpoint)
        os.environ.update(env)
        console.print(f"embedded stack: moto server at [bold]{server.endpoint}[/]")
        aws = make_aws(max_pool_connections=16)
        deploy(aws, stack_name)
        resources = resolve(aws, Settings(stack_name=stack_name))
        s3 = aws.s3()

        plan = demo_objects(objects)
        started = time.monotonic()
        total_bytes = fill_bucket(s3, "demo-source", plan)
        console.print(
            f"source: {len(plan)} objects, {total_bytes / MiB:.1f} MiB"
            f" in s3://demo-source ({time.monotonic() - started:.1f}s to fill)"
        )

        job = send_job(
            aws.sqs(),
            resources.jobs_queue_url,
            JobMessage(
                mode=Mode.COPY,
                source=Location(bucket="demo-source"),
                destination=Location(bucket="demo-destination"),
            ),
        )
        assert job.job_id is not None
        console.print(f"submitted job [bold]{job.job_id}[/]")
        runner = LocalRunner(
            aws,
            resources,
            env={
                **env,
                "S3MIGRATOR_MULTIPART_THRESHOLD_BYTES": str(DEMO_THRESHOLD_BYTES),
                "S3MIGRATOR_PART_SIZE_BYTES": str(DEMO_PART_BYTES),
                "S3MIGRATOR_BATCH_MAX_KEYS": "50",
                "S3MIGRATOR_WAIT_TIME_S": "2",
            },
            max_copiers=workers,
            log_dir=log_dir,
            stack_name=stack_name,
        )
        store = JobStore(aws.dynamodb(), resources.table_name)
        page = None
        if dashboard:
            progress = build_progress(Settings(stack_name=stack_name), aws, resources)
            page = DashboardServer(progress)
            threading.Thread(target=page.serve_forever, daemon=True).start()
            console.print(f"dashboard: [bold]{page.url}[/]")
            webbrowser.open(page.url)
        copy_started = time.monotonic()
        runner.start()
        try:
            record = watch(store, job.job_id, console, timeout_s)
        finally:
            runner.shutdown()
        seconds = time.monotonic() - copy_started

        console.print("verifying every key, size and byte ...")
        # The demo reads every byte, where `verify` would trust equal ETags and CRCs.
        report = verify(
            verifying_client(aws),
            Location(bucket="demo-source"),
            Location(bucket="demo-destination"),
            read_bytes=True,
        )

        table = Table(title="s3migrator demo", show_header=False)
        counters = record.counters
        rows = [
            ("job", job.job_id),
            ("state", record.state.value),
            ("percent", str(record.percent)),
            ("objects listed", str(record.listing.objects)),
            ("objects copied", str(counters.objects_copied)),
            ("objects failed", str(counters.objects_failed)),
            ("bytes copied", f"{counters.bytes_copied} ({counters.bytes_copied / MiB:.1f} MiB)"),
            ("copy seconds", f"{seconds:.1f}"),
            ("objects/s", f"{counters.objects_copied / seconds:.1f}" if seconds else "-"),
            ("copiers (peak)", str(runner.peak_copiers)),
            (
                "verification",
                "passed"
                if report.ok
                else "FAILED: "
                + ", ".join(f"{kind.value} {n}" for kind, n in report.counts().items()),
            ),
        ]
        for name, value in rows:
            table.add_row(name, value)
        console.print(table)
        if page is not None:
            try:
                console.print(f"the dashboard stays at {page.url}: Ctrl-C stops it")
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
            finally:
                page.shutdown()
        return 0 if report.ok and record.state is JobState.SUCCEEDED else 1
