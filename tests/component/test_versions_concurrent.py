"""A versions batch delivered twice at once (a coordinator that died before its checkpoint sends
it again, ``resent``, while a copier still writes the first message's history) is written by one
copier only: the batch is claimed before its first write, and the other delivery waits."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto_helpers import job_message, receive_all, resume_falls_due, run_killed_before_checkpoint

from copier.objects import ObjectCopier
from copier.process import built_worker
from progress.refresh import refresh
from s3migrator.histories import oldest_first
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch


def history_of(s3: Any, bucket: str, key: str) -> list[bytes | None]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    found: list[bytes | None] = []
    for entry in oldest_first(page.get("Versions", []), page.get("DeleteMarkers", [])):
        if entry.get("DeleteMarker"):
            found.append(None)
        else:
            found.append(
                s3.get_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])["Body"].read()
            )
    return found


def test_a_history_delivered_twice_at_once_is_written_once(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, clock: Any, make_runner: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    source = [b"one", b"two", b"three"]
    for body in source:
        s3.put_object(Bucket="src-bucket", Key="a.txt", Body=body)

    # A first run sends its only batch and dies before its checkpoint.
    runner = make_runner()
    run_killed_before_checkpoint(runner, job_message("job-1", versions="all"))
    (first,) = receive_all(sqs, resources.work_queue_url, AttributeNames=["All"])

    # Copier A takes the first message and is slow after writing the first version.
    real_copy = ObjectCopier.copy
    paused, go_on = threading.Event(), threading.Event()
    lock, calls = threading.Lock(), {"n": 0}

    def slow_after_first(self: Any, spec: Any, item: Any, *, again: bool = False) -> int:
        size = real_copy(self, spec, item, again=again)
        with lock:
            calls["n"] += 1
            mine = calls["n"] == 1
        if mine:
            paused.set()
            assert go_on.wait(30)
        return size

    settings = Settings(stack_name="s3migrator", wait_time_s=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ObjectCopier, "copy", slow_after_first)
        with (
            built_worker(settings, aws, resources, store=store) as worker_a,
            built_worker(settings, aws, resources, store=store) as worker_b,
        ):
            thread = threading.Thread(target=worker_a.handle, args=(first,))
            thread.start()
            assert paused.wait(30)
            # Meanwhile the resume runs and sends the batch again; copier B takes it.
            resume_falls_due(store, clock)
            run = runner.take("job-1", None)
            assert run is not None
            runner.work(run)
            (again,) = receive_all(sqs, resources.work_queue_url, AttributeNames=["All"])
            assert WorkBatch.model_validate_json(again["Body"]).resent
            # AND copier B leaves it to A, which holds it
            assert worker_b.handle(again).fate.value == "later"
            go_on.set()
            thread.join(30)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    # THEN each version written once, in the source's order, and counted once
    assert history_of(s3, "dst-bucket", "a.txt") == source
    assert record.counters.objects_copied == len(source)
