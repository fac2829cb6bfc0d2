"""A remainder of waiting objects is a repeat delivery: while an object waited for its restore
in one delivery, another delivery of the same batch may have copied it, and that copy (its ETag
another when the source was uploaded in parts) is recognised by its bytes, not reported as a
conflict."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import job_message, receive_all

import copier.restore
from copier.objects import ObjectCopier
from copier.process import built_worker
from progress.refresh import refresh
from s3migrator.settings import MiB, Settings


def glacier_in_parts(s3: Any, body: bytes) -> str:
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    upload = s3.create_multipart_upload(
        Bucket="src-bucket", Key="cold.bin", StorageClass="GLACIER"
    )["UploadId"]
    half = len(body) // 2
    parts = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(
                Bucket="src-bucket", Key="cold.bin", UploadId=upload, PartNumber=n, Body=chunk
            )["ETag"],
        }
        for n, chunk in ((1, body[:half]), (2, body[half:]))
    ]
    s3.complete_multipart_upload(
        Bucket="src-bucket", Key="cold.bin", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    head = s3.head_object(Bucket="src-bucket", Key="cold.bin")
    assert head["ETag"].endswith('-2"') and head.get("StorageClass") == "GLACIER"
    return head["ETag"]


@pytest.mark.parametrize("fixed", [False, True], ids=["as-is", "control-repeat-on-waits"])
def test_object_copied_by_racing_delivery_is_not_failed(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, fixed: bool
) -> None:
    body = os.urandom(10 * MiB + 7)
    glacier_in_parts(s3, body)
    make_runner().run(job_message("job-1", archived="restore"))  # overwrite: never (default)
    (message,) = receive_all(sqs, resources.work_queue_url)
    # S3 restores it (moto: at once); the copiers' looks are scripted below
    s3.restore_object(Bucket="src-bucket", Key="cold.bin", RestoreRequest={"Days": 1})

    looks: list[str] = []
    a_looked, b_copied, a_counted = threading.Event(), threading.Event(), threading.Event()

    def scripted(clients: Any, spec: Any, item: Any) -> None:
        looks.append(item.key)
        if len(looks) == 1:  # A's look: the restore is still in progress
            a_looked.set()
            raise copier.restore.RestoreWaiting(item.key)
        # every later look: restored

    settings = Settings(
        copy_concurrency=4,
        multipart_threshold_bytes=64 * MiB,  # copied in one CopyObject
        restore_poll_s=0,
        retry_delay_base_s=0,
    )
    with (
        pytest.MonkeyPatch.context() as patch,
        built_worker(settings, aws, resources, store=store, s3=s3) as worker,
    ):
        patch.setattr(copier.restore, "restored", scripted)
        real_count = store.batches.count

        def ordered_count(batch: Any, outcome: Any, remainder: Any = None) -> bool:
            if threading.current_thread().name == "A":
                assert b_copied.wait(30)
                counted = real_count(batch, outcome, remainder)
                a_counted.set()
                return counted
            b_copied.set()
            assert a_counted.wait(30)
            return real_count(batch, outcome, remainder)

        patch.setattr(store.batches, "count", ordered_count)
        first = {**message, "Attributes": {"ApproximateReceiveCount": "1"}}
        second = {**message, "Attributes": {"ApproximateReceiveCount": "2"}}
        decisions: dict[str, Any] = {}
        a = threading.Thread(
            target=lambda: decisions.__setitem__("A", worker._process(first)), name="A"
        )
        b = threading.Thread(
            target=lambda: decisions.__setitem__("B", worker._process(second)), name="B"
        )
        a.start()
        assert a_looked.wait(30)
        b.start()
        a.join(60)
        b.join(60)
    # the root message is settled (deleted), as the copiers would
    sqs.delete_message(QueueUrl=resources.work_queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert s3.get_object(Bucket="dst-bucket", Key="cold.bin")["Body"].read() == body
    # the remainder(s) go on, with a real copier (in one CopyObject, as above)
    with pytest.MonkeyPatch.context() as patch:
        if fixed:  # control: the proposed fix (a remainder with waits > 0 counts as a repeat)
            real_copy = ObjectCopier.copy

            def repeat_copy(self: Any, spec: Any, item: Any, *, again: bool = False) -> int:
                return real_copy(self, spec, item, again=True)

            patch.setattr(ObjectCopier, "copy", repeat_copy)
        drain(aws, resources, store, s3, threshold=64 * MiB)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    # the job copied cold.bin itself: it must count as copied, not failed
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 0)
