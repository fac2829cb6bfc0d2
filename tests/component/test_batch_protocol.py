"""The batch side of the protocol: a batch id names one set of keys for ever, a batch is
counted once with its failures, conflicts are retried, and no work is done twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from copier_drain import drain
from moto_helpers import fill, job_message, receive_all

from copier.process import built_worker
from progress.deadletters import sweep_dead_letters
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import BatchState, WorkBatch

T = TypeVar("T")


def source_objects(count: int) -> dict[str, bytes]:
    return {f"data/{i:04d}.txt": b"x" * (i % 13 + 1) for i in range(count)}


def record_calls(client: Any, event: str) -> list[dict[str, Any]]:
    """The parameters of every call ``client`` makes matching ``event`` (botocore's names)."""
    calls: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(params: dict[str, Any], **_: Any) -> None:
        with lock:
            calls.append(params)

    client.meta.events.register(f"provide-client-params.{event}", record)
    return calls


def test_a_batch_id_names_one_set_of_keys_even_when_the_source_changes_before_a_resend(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a listing killed right after it sent batches 10-19 (before it could note that)
    fill(s3, "src-bucket", source_objects(250))
    runner = make_runner(batch_max_keys=10)
    sends = Counter[str]()

    def killed_after_the_second_send(**_: Any) -> None:
        sends["batch"] += 1
        if sends["batch"] == 2:
            raise RuntimeError("killed")

    runner.sqs.meta.events.register("after-call.sqs.SendMessageBatch", killed_after_the_second_send)
    runner.run(job_message("job-1"))
    # AND the source changes inside batch 10's range before the listing resumes
    s3.delete_object(Bucket="src-bucket", Key="data/0105.txt")
    s3.put_object(Bucket="src-bucket", Key="data/0104b.txt", Body=b"new")
    # WHEN another coordinator resumes the listing to its end
    make_runner(batch_max_keys=10).run(job_message("job-1"))
    # THEN no batch id was ever sent with two different sets of keys
    sets: dict[str, set[tuple[str, ...]]] = {}
    for message in receive_all(sqs, resources.work_queue_url):
        batch = WorkBatch.model_validate_json(message["Body"])
        sets.setdefault(batch.batch_id, set()).add(tuple(item.key for item in batch.items))
    assert {batch_id: len(keys) for batch_id, keys in sets.items() if len(keys) > 1} == {}


def test_a_dead_letter_sweep_racing_a_late_copier_never_counts_an_object_twice(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of one batch of three objects whose message was dead-lettered while a slow
    # copier still held a copy of it
    fill(s3, "src-bucket", source_objects(3))
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    # WHEN the sweep starts on it, and the late copier copies and counts the batch right after
    # the sweep's first look at the table
    sweeping = JobStore(aws.dynamodb(), resources.table_name)
    looked = Counter[str]()

    def late_copier_finishes(**_: Any) -> None:
        looked["call"] += 1
        if looked["call"] == 1:
            drain(aws, resources, store)

    sweeping._ddb.meta.events.register("after-call.dynamodb", late_copier_finishes)
    sweep_dead_letters(sweeping, sqs, resources.work_dlq_url, resources.work_queue_url)
    # THEN each object is counted once, as copied or as failed, never both
    (status,) = refresh(store, sqs, resources)
    failures = list(store.batches.failures("job-1"))
    assert status.objects_copied + status.objects_failed == status.objects_total == 3
    assert len(failures) == status.objects_failed
    assert status.state in (JobState.SUCCEEDED, JobState.COMPLETED_WITH_FAILURES)


def test_a_transaction_conflict_while_counting_is_retried_not_recopied(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of one batch, and a table that cancels the first counting transaction on a
    # conflict (as DynamoDB does when another write touches the same item at that moment)
    fill(s3, "src-bucket", source_objects(5))
    make_runner().run(job_message("job-1"))
    conflicts = Counter[str]()

    def conflict_once(**_: Any) -> None:
        conflicts["seen"] += 1
        if conflicts["seen"] == 1:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )

    store._ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", conflict_once)
    copier_s3 = aws.s3()
    copies = record_calls(copier_s3, "s3.CopyObject")
    # WHEN a copier drains the queue once
    drain(aws, resources, store, copier_s3)
    # THEN the batch was counted after a retry, each object copied once, nothing left queued
    (status,) = refresh(store, sqs, resources)
    assert conflicts["seen"] >= 2
    assert status.objects_copied == 5
    assert len(copies) == 5
    assert receive_all(sqs, resources.work_queue_url) == []


def test_a_batch_delivered_again_after_it_was_counted_is_not_copied_again(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a batch of four objects copied and counted, whose message SQS delivers again
    fill(s3, "src-bucket", source_objects(4))
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    drain(aws, resources, store)
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=message["Body"])
    copier_s3 = aws.s3()
    copies = record_calls(copier_s3, "s3.CopyObject")
    # WHEN a copier takes the duplicate
    drain(aws, resources, store, copier_s3)
    # THEN it copies nothing and drops it
    assert copies == []
    assert receive_all(sqs, resources.work_queue_url) == []


def written_keys(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The keys of the items a DynamoDB write call changes."""
    keys = [params["Key"]] if "UpdateExpression" in params and "Key" in params else []
    for action in params.get("TransactItems", []):
        for kind in ("Update", "Put", "Delete"):
            if kind in action:
                item = action[kind]
                keys.append(item.get("Key") or {k: item["Item"][k] for k in ("pk", "sk")})
    return keys


def test_counting_a_batch_never_writes_the_job_item(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of three batches
    fill(s3, "src-bucket", source_objects(30))
    make_runner(batch_max_keys=10).run(job_message("job-1"))
    counting = JobStore(aws.dynamodb(), resources.table_name)
    calls = record_calls(counting._ddb, "dynamodb")
    # WHEN a copier counts them
    drain(aws, resources, counting)
    # THEN they were counted, and no write touched the job's own item: the hot item stays cold
    (status,) = refresh(store, sqs, resources)
    assert status.objects_copied == 30
    job_item = {"pk": {"S": "JOB#job-1"}, "sk": {"S": "JOB"}}
    assert [key for params in calls for key in written_keys(params) if key == job_item] == []


def wait_for(
    read: Callable[[], T | None], holds: Callable[[T], object], timeout_s: float = 30
) -> T:
    """What ``read`` returns once ``holds`` is true of it (polled; fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if value is not None and holds(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r}"
        time.sleep(0.05)


def test_a_batch_copied_past_its_claim_time_is_neither_copied_again_nor_taken_for_dead(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a job of one batch, whose message body is kept
    fill(s3, "src-bucket", source_objects(1))
    runner = make_runner()
    sent = record_calls(runner.sqs, "sqs.SendMessageBatch")
    runner.run(job_message("job-1"))
    ((entry,),) = [call["Entries"] for call in sent]
    # AND copier A in the middle of its copy (held here), past its claim time
    copier_a = aws.s3()
    copying, may_end = threading.Event(), threading.Event()

    def hold_the_copy(**_: Any) -> None:
        copying.set()
        assert may_end.wait(30)

    copier_a.meta.events.register("before-call.s3.CopyObject", hold_the_copy)
    settings = Settings(claim_after_s=0.2, wait_time_s=0, work_visibility_s=30)
    with built_worker(settings, aws, resources, store=store, s3=copier_a) as worker_a:
        serving = threading.Thread(target=worker_a.serve)
        serving.start()
        assert copying.wait(30)
        batch_id = WorkBatch.model_validate_json(entry["MessageBody"]).batch_id
        claimed = wait_for(lambda: store.batches.get("job-1", batch_id), lambda r: r.claim_owner)
        assert claimed.claim_owner == worker_a.owner
        # AND the message delivered again (past SQS's 12-hour visibility cap) and dead-lettered
        sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=entry["MessageBody"])
        sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=entry["MessageBody"])
        # WHEN copier B receives the redelivery, and the dead-letter sweep runs
        copier_b = aws.s3()
        copies_b = record_calls(copier_b, "s3.CopyObject")
        drain(aws, resources, store, copier_b)
        swept_while_copying = sweep_dead_letters(
            store, sqs, resources.work_dlq_url, resources.work_queue_url
        )
        # THEN B copied nothing, the sweep left the dead letter, and nothing was counted
        assert copies_b == []
        assert swept_while_copying == 0
        record = store.batches.get("job-1", batch_id)
        assert record is not None and record.state is BatchState.DEFINED
        # WHEN A's copy ends
        may_end.set()
        wait_for(
            lambda: store.batches.get("job-1", batch_id), lambda r: r.state is BatchState.COUNTED
        )
        worker_a.stop.set()
        serving.join(30)
    # THEN the dead letter is cleared without a failure, and the job succeeded with the object
    # copied once
    # (the sweep hid it until A's claim ran out)
    wait_for(
        lambda: (
            sweep_dead_letters(store, sqs, resources.work_dlq_url, resources.work_queue_url) or None
        ),
        bool,
    )
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        1,
        0,
    )
