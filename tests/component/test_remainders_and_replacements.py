"""Batches that others must send: a remainder whose copier died after counting, replacements
whose sender died; and a copy that landed before its answer was lost."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError
from copier_drain import drain
from moto_helpers import cap_work_queue, fill, job_message, receive_all, resume_falls_due
from test_batch_protocol import source_objects

from copier.process import built_worker
from progress.deadletters import sweep_dead_letters
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.resources import Resources
from s3migrator.settings import Settings
from s3migrator.work import BatchState, WorkBatch


def failing_copies(aws: Aws) -> Any:
    """An S3 client whose every CopyObject fails transiently."""
    client = aws.s3()

    def internal_error(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError"}}, "CopyObject")

    client.meta.events.register("before-call.s3.CopyObject", internal_error)
    return client


def dies_before_sending(worker: Any, aws: Aws) -> None:
    """The worker's process dies as it is about to send a message (its remainder)."""
    worker.sqs = aws.sqs()

    def died(**_: Any) -> None:
        raise RuntimeError("the copier died here")

    worker.sqs.meta.events.register("before-call.sqs.SendMessage", died)


def test_a_remainder_whose_parent_was_dead_lettered_after_counting_is_still_sent(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a batch whose three copies failed transiently, counted with a remainder batch by a
    # copier that died before it could send the remainder
    fill(s3, "src-bucket", source_objects(3))
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    settings = Settings(copy_concurrency=1, max_item_attempts=3, retry_delay_base_s=0)
    with built_worker(settings, aws, resources, store=store, s3=failing_copies(aws)) as worker:
        dies_before_sending(worker, aws)
        with pytest.raises(RuntimeError):
            worker.handle(message)
    (counted,) = [b for b in store.batches.of_job("job-1") if b.remainder is not None]
    # AND whose message then ran out of receives and was dead-lettered
    sqs.send_message(QueueUrl=resources.work_dlq_url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"])
    # WHEN the dead letters are swept
    sweep_dead_letters(store, sqs, resources.work_dlq_url, resources.work_queue_url)
    # THEN the remainder goes to work, and the job finishes with every object copied
    (sent,) = receive_all(sqs, resources.work_queue_url)
    assert WorkBatch.model_validate_json(sent["Body"]).batch_id == counted.remainder
    sqs.change_message_visibility(
        QueueUrl=resources.work_queue_url, ReceiptHandle=sent["ReceiptHandle"], VisibilityTimeout=0
    )
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_a_remainder_counted_by_a_duplicate_delivery_whose_copier_died_is_still_sent(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN one batch delivered twice at once: copier A, whose copies fail transiently, counts
    # it with a remainder and dies before sending the remainder, while copier B copies it
    fill(s3, "src-bucket", source_objects(3))
    make_runner().run(job_message("job-1"))
    (message,) = receive_all(sqs, resources.work_queue_url)
    settings = Settings(copy_concurrency=1, max_item_attempts=3, retry_delay_base_s=0)
    with (
        built_worker(settings, aws, resources, store=store, s3=failing_copies(aws)) as a,
        built_worker(settings, aws, resources, store=store, s3=aws.s3()) as b,
    ):
        dies_before_sending(a, aws)
        copied = Counter[str]()

        def a_counts_first(**_: Any) -> None:
            copied["b"] += 1
            if copied["b"] == 3:
                with pytest.raises(RuntimeError):
                    a.handle(message)

        b.copier.clients.for_location(job_message("job-1").destination).meta.events.register(
            "after-call.s3.CopyObject", a_counts_first
        )
        # WHEN B finds the batch counted meanwhile and deletes the message (its duplicate)
        b.handle(message)
    # THEN the remainder was sent all the same, and the job finishes with every object copied
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        3,
        0,
    )


def test_an_object_whose_last_attempt_fails_after_an_earlier_copy_landed_counts_as_copied(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a batch whose first object an earlier attempt copied (its answer lost), and whose
    # last attempt now fails transiently for every object
    fill(s3, "src-bucket", source_objects(2))
    make_runner().run(job_message("job-1"))
    s3.create_bucket(Bucket="dst-bucket")
    s3.copy_object(
        Bucket="dst-bucket",
        Key="data/0000.txt",
        CopySource={"Bucket": "src-bucket", "Key": "data/0000.txt"},
    )
    (message,) = receive_all(sqs, resources.work_queue_url)
    settings = Settings(copy_concurrency=1, max_item_attempts=1)
    # WHEN a copier takes it
    with built_worker(settings, aws, resources, store=store, s3=failing_copies(aws)) as worker:
        worker.handle(message)
    # THEN the landed object counts as copied, and only the other one as failed
    (status,) = refresh(store, sqs, resources)
    assert (status.objects_copied, status.objects_failed) == (1, 1)
    assert [f.key for f in store.batches.failures("job-1")] == ["data/0001.txt"]


def test_replacement_batches_whose_sender_died_are_sent_by_the_next_run(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    # GIVEN a run that defined batches [a] [b] [c] and could not send them
    fill(s3, "src-bucket", {"a": b"A", "b": b"B", "c": b"C"})
    runner = make_runner(batch_max_keys=1)
    sends_to_fail = Counter[str]()

    def failing_send(**_: Any) -> None:
        if sends_to_fail["left"]:
            sends_to_fail["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalError"}}, "SendMessageBatch")

    runner.sqs.meta.events.register("before-call.sqs.SendMessageBatch", failing_send)
    sends_to_fail["left"] = 1
    runner.run(job_message("job-1"))
    # AND a second run that found [b] changed at the source, replaced it, and could not send
    s3.put_object(Bucket="src-bucket", Key="b", Body=b"B, changed")
    sends_to_fail["left"] = 1
    resume_falls_due(store, clock)
    run = runner.take("job-1")
    assert run is not None
    runner.work(run)
    assert any(r.state is BatchState.VOID for r in store.batches.of_job("job-1"))
    # WHEN a third run resumes the job, and the copiers and the progress function run
    resume_falls_due(store, clock)
    run = runner.take("job-1")
    assert run is not None
    runner.work(run)
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources)
    # THEN every object was copied (b as it is now) and the job succeeded
    assert (status.state, status.objects_copied, status.objects_total) == (JobState.SUCCEEDED, 3, 3)
    body = s3.get_object(Bucket="dst-bucket", Key="b")["Body"].read()
    assert body == b"B, changed"


def test_the_remainder_of_a_batch_packed_to_a_small_message_cap_is_sent_and_the_job_ends(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a work queue capped at 64 KiB, a coordinator told so, and a source whose first
    # batch is packed right up to that cap
    cap = 64 * 1024
    cap_work_queue(sqs, resources, cap)
    fill(s3, "src-bucket", {f"data/{i:07d}": b"x" for i in range(900)})
    make_runner(message_max_bytes=cap).run(job_message("job-1"))
    messages = receive_all(sqs, resources.work_queue_url)
    full = max(messages, key=lambda m: len(m["Body"]))
    assert len(full["Body"]) > cap - 8 * 1024
    # WHEN every copy of that batch fails transiently once (each item then counts its try)
    settings = Settings(copy_concurrency=4, max_item_attempts=3, retry_delay_base_s=0)
    with built_worker(settings, aws, resources, store=store, s3=failing_copies(aws)) as worker:
        worker.handle(full)
    # THEN its remainder still fits the cap and is sent
    batch = WorkBatch.model_validate_json(full["Body"])
    counted = store.batches.get("job-1", batch.batch_id)
    assert counted is not None and counted.remainder is not None
    remainder = store.batches.get("job-1", counted.remainder)
    assert remainder is not None and len(remainder.carried(batch.spec).body()) <= cap
    # AND with healthy copiers the job ends with every object copied
    for message in messages:
        if message is not full:
            sqs.change_message_visibility(
                QueueUrl=resources.work_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
    drain(aws, resources, store)
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        900,
        0,
    )
