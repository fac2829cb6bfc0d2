"""One schedule's world: the product's processes on the real store (moto) and a fake SQS at its
worst, the faults a schedule may inject, and the activities its actors run.

Everything is built by the product's own factories; only the SQS client is swapped for the
scheduled fake, and the copier's thread pool for one that runs copies in the calling thread (so
each actor is one thread the scheduler drives). Faults: processes killed at any call, copies
that fail transiently, a prefix of keys the copiers may not read (until the schedule lifts it),
transaction conflicts, and the queue's duplicates, lost visibility, lost deletes and empty polls.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from coordinator.process import build_coordinator
from coordinator.service import Coordinator
from copier.process import built_worker
from copier.worker import Worker
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.aws_errors import PROVIDER_ERRORS
from s3migrator.cli.jobs import redrive_job
from s3migrator.errors import S3MigratorError
from s3migrator.jobstore import JobStore
from s3migrator.models import JobMessage, Location, ReportLocation
from s3migrator.resources import Resources
from s3migrator.sessions import s3_clients
from s3migrator.settings import Settings

from .fake_sqs import SENDER_ID, FakeClock, FakeSQS
from .scheduler import Process, ScheduledSQS, Scheduler, hook_client

DENIED = "deny/"
# What the product's own loops catch, log and leave to SQS's redelivery or the user to retry.
EXPECTED = (S3MigratorError, *PROVIDER_ERRORS)
OBJECTS = 12
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


class InlineExecutor(Executor):
    """Runs each task in the submitting thread: an actor stays one thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


@dataclass
class Faults:
    crash_p: float = 0.03
    transient_p: float = 0.1
    conflict_p: float = 0.05
    deny: bool = True

    def calm(self) -> None:
        self.crash_p = self.transient_p = self.conflict_p = 0.0
        self.deny = False


def client_error(code: str, status: int, operation: str, **extra: Any) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} (injected)"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, operation)


@dataclass
class World:
    seed: int
    aws: Aws
    table_name: str
    rng: random.Random = field(init=False)
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_800_000_000.0))
    scheduler: Scheduler = field(default_factory=Scheduler)
    faults: Faults = field(default_factory=Faults)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        random.seed(self.seed)  # the product's jitter, so a seed replays
        self.fake = FakeSQS(
            seed=random.Random(self.seed + 1),
            clock=self.clock,
            duplicate_p=0.1,
            lose_visibility_p=0.05,
            drop_delete_p=0.05,
            receive_empty_p=0.1,
        )
        fake = self.fake
        jobs_dlq = fake.create_queue(f"jobs-dlq-{self.seed}")
        work_dlq = fake.create_queue(f"work-dlq-{self.seed}")
        self.resources = Resources(
            jobs_queue_url=fake.create_queue(
                f"jobs-{self.seed}", visibility_s=60, max_receive_count=5, dead_letter_url=jobs_dlq
            ),
            jobs_dlq_url=jobs_dlq,
            work_queue_url=fake.create_queue(
                f"work-{self.seed}", visibility_s=30, max_receive_count=4, dead_letter_url=work_dlq
            ),
            work_dlq_url=work_dlq,
            table_name=self._own_table(),
        )
        self.settings = Settings(
            batch_max_keys=2,
            lease_s=60,
            max_backlog_batches=10,
            backlog_poll_s=10,
            jobs_visibility_s=60,
            work_visibility_s=30,
            max_item_attempts=3,
            retry_delay_base_s=5,
            max_resumes=1000,
            resume_grace_s=120,
            copy_concurrency=1,
            part_concurrency=1,
            wait_time_s=0,
            job_submitters=SENDER_ID,
        )
        self.sqs: Any = ScheduledSQS(fake, self.scheduler)
        self.ddb = self.aws.dynamodb()
        self.s3 = self.aws.s3()
        hook_client(self.ddb, self.scheduler, "dynamodb")
        hook_client(self.s3, self.scheduler, "s3")
        self.ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", self._conflict)
        self.writes = 0  # DynamoDB writes so far: the job's record changes only with one
        for operation in WRITES:
            self.ddb.meta.events.register(f"after-call.dynamodb.{operation}", self._wrote)
        self.s3.meta.events.register("before-parameter-build.s3.CopyObject", self._copy_fault)
        self.store = JobStore(self.ddb, self.resources.table_name, clock=self.clock)
        self.source, self.destination = f"src-{self.seed}", f"dst-{self.seed}"
        self.reports = f"reports-{self.seed}"
        self.keys = self._fill()
        self.coordinator_process = Process("coordinator")
        self.coordinator = self._new_coordinator()
        self.copier_processes = [Process(f"copier-{i}") for i in range(2)]
        self.copiers = [self._new_copier() for _ in self.copier_processes]
        self.invocations = 0

    def close(self) -> None:
        self._stack.close()

    def calm(self) -> None:
        """No more crashes or injected errors, the denied prefix readable again; SQS still
        delivers some messages twice."""
        self.faults.calm()
        fake = self.fake
        fake.lose_visibility_p = fake.drop_delete_p = fake.receive_empty_p = 0
        fake.duplicate_p = 0.05

    def _own_table(self) -> str:
        """A table of this schedule's own, shaped as the deployed one (``table_name``), so
        that no schedule reads another's jobs."""
        ddb = self.aws.dynamodb()
        table = ddb.describe_table(TableName=self.table_name)["Table"]
        name = f"{self.table_name}-{self.seed}"
        indexes = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in table.get("GlobalSecondaryIndexes", [])
        ]
        ddb.create_table(
            TableName=name,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        )
        self._stack.callback(ddb.delete_table, TableName=name)
        return name

    # --- the job --------------------------------------------------------------------------------

    def _fill(self) -> list[str]:
        s3 = self.aws.s3()
        for bucket in (self.source, self.reports):
            s3.create_bucket(Bucket=bucket)
        self.bodies = {
            f"{DENIED if i % 5 == 3 else 'data/'}{i:03d}-\u00e9\ufffd.bin": f"object {i}".encode()
            for i in range(OBJECTS)
        }
        for key, body in self.bodies.items():
            s3.put_object(Bucket=self.source, Key=key, Body=body)
        return list(self.bodies)

    def submit(self) -> str:
        """Send the job message (no job id: the message's id names the job)."""
        message = JobMessage(
            mode="copy",
            source=Location(bucket=self.source),
            destination=Location(bucket=self.destination),
            report=ReportLocation(bucket=self.reports),
        )
        sent = self.fake.send_message(
            QueueUrl=self.resources.jobs_queue_url,
            MessageBody=message.model_dump_json(exclude_none=True),
        )
        self.scheduler.log.append(f"submit job {sent['MessageId']}")
        return str(sent["MessageId"])

    # --- faults ---------------------------------------------------------------------------------

    def _wrote(self, **_: Any) -> None:
        self.writes += 1

    def _conflict(self, **_: Any) -> None:
        if self.rng.random() < self.faults.conflict_p:
            reasons = {"CancellationReasons": [{"Code": "TransactionConflict"}]}
            raise client_error("TransactionCanceledException", 400, "TransactWriteItems", **reasons)

    def _copy_fault(self, params: dict[str, Any], **_: Any) -> None:
        key = params["Key"]
        if self.faults.deny and key.startswith(DENIED):
            raise client_error("AccessDenied", 403, "CopyObject")
        if self.rng.random() < self.faults.transient_p:
            raise client_error("InternalError", 500, "CopyObject")

    # --- processes ------------------------------------------------------------------------------

    def _new_coordinator(self) -> Coordinator:
        coordinator = build_coordinator(self.settings, self.aws, self.resources, store=self.store)
        coordinator.sqs = self.sqs
        runner = coordinator.runner
        runner.sqs = self.sqs
        runner.clients = s3_clients(self.aws, self.settings, default=self.s3)

        def pause(_: float) -> bool:
            self.scheduler.point("pause")
            return False

        runner.pause = pause
        return coordinator

    def _new_copier(self) -> Worker:
        worker = self._stack.enter_context(
            built_worker(self.settings, self.aws, self.resources, store=self.store, s3=self.s3)
        )
        worker.sqs = self.sqs
        worker.copy_pool = InlineExecutor()  # type: ignore[assignment]
        return worker

    def _revive(self) -> None:
        """Dead processes are replaced by new ones (new owner ids, nothing in memory)."""
        if self.coordinator_process.dead:
            self.coordinator_process = Process("coordinator")
            self.coordinator = self._new_coordinator()
        for i, process in enumerate(self.copier_processes):
            if process.dead:
                self.copier_processes[i] = Process(f"copier-{i}")
                self.copiers[i] = self._new_copier()

    # --- activities -----------------------------------------------------------------------------

    def activities(
        self, job_id: str, busy: set[str]
    ) -> Iterator[tuple[str, Process, Callable[[], object]]]:
        """What may start now: (name, process, body) for each process not ``busy``, and the
        invocations (a progress run, a redrive) that have no process of their own."""
        self._revive()
        if "coordinator" not in busy:
            yield "coordinator", self.coordinator_process, self._coordinate(self.coordinator)
        for i, worker in enumerate(self.copiers):
            name = f"copier-{i}"
            if name not in busy:
                yield name, self.copier_processes[i], self._copy(worker)
        self.invocations += 1
        yield "progress", Process(f"progress-{self.invocations}"), self._progress
        yield "redrive", Process(f"redrive-{self.invocations}"), self._redrive(job_id)

    def _coordinate(self, coordinator: Coordinator) -> Callable[[], object]:
        def body() -> None:
            received = self.sqs.receive_message(
                QueueUrl=self.resources.jobs_queue_url,
                MaxNumberOfMessages=1,
                MessageSystemAttributeNames=["SenderId"],  # as the coordinator's intake asks
            )
            for message in received.get("Messages", []):
                with self._expected("coordinator"):  # logged; SQS redelivers the message
                    coordinator.handle(message)

        return body

    def _copy(self, worker: Worker) -> Callable[[], object]:
        def body() -> None:
            received = self.sqs.receive_message(
                QueueUrl=self.resources.work_queue_url,
                MaxNumberOfMessages=1,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            for message in received.get("Messages", []):
                with self._expected("copier"):  # logged; SQS redelivers the message
                    worker.handle(message)

        return body

    @contextmanager
    def _expected(self, who: str) -> Iterator[None]:
        """What the product's loops catch and log, written to the schedule's log instead."""
        try:
            yield
        except EXPECTED as exc:
            self.scheduler.log.append(f"{who} gave up: {exc!r}"[:300])

    def _progress(self) -> None:
        refresh(self.store, self.sqs, self.resources, settings=self.settings)

    def _redrive(self, job_id: str) -> Callable[[], object]:
        def body() -> None:
            with self._expected("redrive"):  # refused or failed: what the user is told
                redrive_job(self.store, self.sqs, self.resources, job_id, self.settings)

        return body
