"""A huge object's parts copied by many copiers at once: the interleavings of ``copier.split``.

Each test drives copiers message by message (``Worker.handle``), ordering them with the split
copier's step hook, so every interleaving is the one named, not a race that may or may not
happen. Failures and ends of the upload: ``test_split_failures.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from split_helpers import (
    HUGE,
    PARENT,
    calls_of,
    copier,
    counts,
    dispatched,
    drain,
    kind,
    listed_huge,
    open_uploads,
    show,
    take,
)

from copier.fates import Fate
from copier.split import COMPLETION_CLAIM_S
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.models import JobState
from s3migrator.part_work import WORK, PartBatch, UploadState
from s3migrator.resources import Resources
from s3migrator.work import WorkBatch


def test_a_huge_object_goes_out_as_part_batches_and_is_counted_once_when_complete(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN one listed huge object
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    with copier(aws, resources, store, copier_s3) as worker:
        # WHEN a copier takes its batch
        (parent,) = take(sqs, resources)
        assert worker.handle(parent).fate is Fate.DELETE
        # THEN it started one upload and sent three part batches, and counted nothing yet
        taken = take(sqs, resources)
        parts = sorted(kind(m) for m in taken)
        assert parts == [f"{PARENT}.p0001", f"{PARENT}.p0002", f"{PARENT}.p0003"]
        assert counts(store) == (0, 0, 0)
        show(sqs, resources, taken)
        # WHEN the part batches are copied
        drain(worker, sqs, resources)
    # THEN the object is whole, completed once, and counted once as copied
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert calls["CreateMultipartUpload"] == 1
    assert calls["UploadPartCopy"] == 5
    assert calls["CompleteMultipartUpload"] == 1
    assert counts(store) == (1, 0, 1)
    assert open_uploads(s3) == []
    (status,) = refresh(store, sqs, resources)
    assert (status.state, status.percent, status.bytes_copied) == (JobState.SUCCEEDED, 100, HUGE)


def test_a_parent_delivered_to_two_copiers_at_once_makes_one_upload(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's batch, delivered twice
    body = listed_huge(s3, make_runner)
    (first,) = take(sqs, resources)
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
    (second,) = take(sqs, resources)
    copier_s3, calls = calls_of(aws)
    with (
        copier(aws, resources, store, copier_s3) as one,
        copier(aws, resources, store, copier_s3) as two,
    ):
        fates: list[Fate] = []

        def other_first(step: str, _batch: str) -> None:
            # Copier one has created its upload; copier two records its own before it.
            if step == "created" and not fates:
                fates.append(two.handle(second).fate)

        assert one.split is not None
        one.split.step = other_first
        # WHEN copier one handles its delivery, copier two's running in between
        fates.append(one.handle(first).fate)
        # THEN both messages are settled, one upload is recorded, copier one's is aborted
        assert fates == [Fate.DELETE, Fate.DELETE]
        record = store.uploads.get("job-1", PARENT)
        assert record is not None and record.sent
        assert open_uploads(s3) == [record.upload_id]
        # AND its part batches were sent once (copier one found them sent)
        taken = take(sqs, resources)
        assert sorted(kind(m) for m in taken) == [
            f"{PARENT}.p0001",
            f"{PARENT}.p0002",
            f"{PARENT}.p0003",
        ]
    # WHEN a copier copies them
    with copier(aws, resources, store, copier_s3) as worker:
        show(sqs, resources, taken)
        drain(worker, sqs, resources)
    # THEN the object is whole, completed once, counted once
    assert calls["CreateMultipartUpload"] == 2
    assert calls["AbortMultipartUpload"] == 1
    assert calls["CompleteMultipartUpload"] == 1
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)
    assert open_uploads(s3) == []


def test_a_completer_that_dies_before_counting_is_finished_by_the_next_delivery(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    clock: Any,
) -> None:
    # GIVEN a huge object whose part batches a copier copies, dying right after it completed
    # the upload and before it counted the parent
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    with copier(aws, resources, store, copier_s3) as dying:
        assert dying.split is not None

        def die(step: str, _batch: str) -> None:
            if step == "completed":
                raise RuntimeError("killed after completing")

        dying.split.step = die
        taken = take(sqs, resources)
        with pytest.raises(RuntimeError, match="killed after completing"):
            for message in taken:
                dying.handle(message)
    assert calls["CompleteMultipartUpload"] == 1
    assert counts(store) == (0, 0, 0)
    # WHEN its message comes back to another copier (and the completion claim ran out)
    show(sqs, resources, taken)
    with copier(aws, resources, store, copier_s3) as next_one:
        record = store.uploads.get("job-1", PARENT)
        assert record is not None and record.all_done and record.state is UploadState.OPEN
        clock.advance(COMPLETION_CLAIM_S + 1)
        drain(next_one, sqs, resources)
    # THEN it recognises the completed object and counts the parent once
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)
    closed = store.uploads.get("job-1", PARENT)
    assert closed is not None and closed.state is UploadState.COMPLETED
    assert open_uploads(s3) == []


def test_a_part_batch_delivered_twice_is_copied_once(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object's part batches in the queue, the first of them delivered twice
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    dispatched(aws, sqs, store, resources, copier_s3)
    messages = {kind(m): m for m in take(sqs, resources)}
    first = messages[f"{PARENT}.p0001"]
    sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
    (duplicate,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
    with (
        copier(aws, resources, store, copier_s3) as one,
        copier(aws, resources, store, copier_s3) as two,
    ):
        fates: list[Fate] = []

        def duplicate_meanwhile(step: str, _batch: str) -> None:
            if step == "copied" and not fates:
                fates.append(two.handle(duplicate).fate)

        assert one.split is not None
        one.split.step = duplicate_meanwhile
        # WHEN copier two takes the duplicate while copier one copies it
        fates.append(one.handle(first).fate)
        # THEN the duplicate is hidden (the claim), the first counted done
        assert fates == [Fate.LATER, Fate.DELETE]
        assert calls["UploadPartCopy"] == 2
        # AND a late delivery of it, once done, copies nothing
        sqs.send_message(QueueUrl=resources.work_queue_url, MessageBody=first["Body"])
        (late,) = [m for m in take(sqs, resources) if m["Body"] == first["Body"]]
        assert two.handle(late).fate is Fate.DELETE
        assert calls["UploadPartCopy"] == 2
        # WHEN the rest is copied
        for message in (messages[f"{PARENT}.p0002"], messages[f"{PARENT}.p0003"]):
            assert two.handle(message).fate is Fate.DELETE
    # THEN each part was copied once and the object counted once
    assert calls["UploadPartCopy"] == 5
    assert calls["CompleteMultipartUpload"] == 1
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert counts(store) == (1, 0, 1)


def test_part_batch_messages_carry_no_upload_and_only_their_index(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object dispatched
    listed_huge(s3, make_runner)
    dispatched(aws, sqs, store, resources)
    # THEN each part batch names its parent and index, and the job's spec
    bodies = sorted((m["Body"] for m in take(sqs, resources)), key=len)
    works = sorted((WORK.validate_json(b) for b in bodies), key=lambda w: w.batch_id)
    assert [(w.parent, w.index) for w in works if isinstance(w, PartBatch)] == [
        (PARENT, 1),
        (PARENT, 2),
        (PARENT, 3),
    ]
    assert all("UploadId" not in body and "upload" not in body for body in bodies)
    assert not any(isinstance(w, WorkBatch) for w in works)
