"""Helpers of the split-object component tests: copiers driven message by message."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from botocore.exceptions import ClientError
from moto_helpers import fill, job_message

from copier.fates import Fate
from copier.process import built_worker
from copier.worker import Worker
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.part_work import WORK
from s3migrator.resources import Resources
from s3migrator.settings import MiB, Settings

# Five 5 MiB parts (the last 3 MiB), two parts per part batch: three part batches.
HUGE = 23 * MiB
PARENT = "job-1:000000000"


def settings() -> Settings:
    return Settings(
        copy_concurrency=4,
        part_concurrency=4,
        multipart_threshold_bytes=8 * MiB,
        part_size_bytes=5 * MiB,
        split_object_bytes=16 * MiB,
        part_batch_bytes=10 * MiB,
        messages_in_flight=1,
        work_visibility_s=30,
        wait_time_s=0,
        idle_exit_s=0.01,
        retry_delay_base_s=0,
    )


@contextmanager
def copier(aws: Aws, resources: Resources, store: JobStore, s3: Any = None) -> Iterator[Worker]:
    with built_worker(settings(), aws, resources, store=store, s3=s3) as worker:
        yield worker


def calls_of(aws: Aws) -> tuple[Any, Counter[str]]:
    """A real S3 client whose operations are counted as botocore emits them."""
    s3 = aws.s3()
    calls = Counter[str]()
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    s3.meta.events.register("before-call.s3", record)
    return s3, calls


def take(sqs: Any, resources: Resources) -> list[dict[str, Any]]:
    """Every visible work message, with its receive count (hidden a minute meanwhile)."""
    taken: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=resources.work_queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if not messages:
            return taken
        taken.extend(messages)


def kind(message: dict[str, Any]) -> str:
    work = WORK.validate_json(message["Body"])
    return work.batch_id


def listed_huge(s3: Any, make_runner: Any, size: int = HUGE) -> bytes:
    """A source holding one huge object, listed into its parent batch."""
    body = os.urandom(size)
    fill(s3, "src-bucket", {"huge.bin": body})
    make_runner(solo_object_bytes=MiB).run(job_message("job-1"))
    return body


def handle_all(worker: Worker, sqs: Any, resources: Resources) -> list[Fate]:
    """Handle every visible message once, in the order SQS gives them; their fates."""
    return [worker.handle(message).fate for message in take(sqs, resources)]


def drain(worker: Worker, sqs: Any, resources: Resources) -> None:
    while handle_all(worker, sqs, resources):
        pass


def counts(store: JobStore) -> tuple[int, int, int]:
    job = store.get_job("job-1")
    assert job is not None
    return job.counters.objects_copied, job.counters.objects_failed, job.counters.batches_done


def show(sqs: Any, resources: Resources, messages: list[dict[str, Any]]) -> None:
    """Make taken messages visible again (as SQS does once their visibility runs out); those
    deleted meanwhile are gone."""
    for message in messages:
        with suppress(sqs.exceptions.ReceiptHandleIsInvalid):
            sqs.change_message_visibility(
                QueueUrl=resources.work_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )


def open_uploads(s3: Any) -> list[str]:
    return [
        u["UploadId"] for u in s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", [])
    ]


def dispatched(aws: Aws, sqs: Any, store: JobStore, resources: Resources, s3: Any = None) -> None:
    """The parent handled: the upload started and its part batches in the queue."""
    with copier(aws, resources, store, s3) as worker:
        (parent,) = take(sqs, resources)
        assert worker.handle(parent).fate is Fate.DELETE


def source_changed(**_: Any) -> None:
    raise ClientError(
        {
            "Error": {
                "Code": "PreconditionFailed",
                "Message": "At least one of the pre-conditions you specified did not hold",
            },
            "ResponseMetadata": {"HTTPStatusCode": 412},
        },
        "UploadPartCopy",
    )
