"""A redrive keeps a key's failed versions in one batch, in order: split across batches, which
SQS may deliver in any order, a later version could be written before an earlier one."""

from __future__ import annotations

from typing import Any

import pytest
from moto_helpers import job_message, receive_all

from copier.objects import ObjectCopier
from copier.process import built_worker
from progress.refresh import refresh
from s3migrator.cli.jobs import redrive_job
from s3migrator.errors import PermanentError
from s3migrator.histories import oldest_first
from s3migrator.models import JobState
from s3migrator.settings import Settings
from s3migrator.work import WorkBatch

N = 201


def bodies_of(s3: Any, bucket: str, key: str) -> list[bytes]:
    versions: list[Any] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        versions += page.get("Versions", [])
    return [
        s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in oldest_first(versions, [])
    ]


def test_redrive_keeps_a_keys_versions_in_order(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, run_copier: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    source = [f"v{i:03d}".encode() for i in range(N)]
    for body in source:
        s3.put_object(Bucket="src-bucket", Key="k", Body=body)
    assert bodies_of(s3, "src-bucket", "k") == source

    make_runner().run(job_message("job-1", versions="all"))
    # The first version fails for good (e.g. access denied on it): the versions after it fail too.
    real = ObjectCopier.copy

    def denied(self: Any, spec: Any, item: Any, *, again: bool = False) -> int:
        raise PermanentError("AccessDenied", "denied", 403)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ObjectCopier, "copy", denied)
        run_copier()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    assert record.counters.objects_failed == N

    # The cause fixed, the job is redriven: its N failed versions, in redrive batches.
    assert ObjectCopier.copy is real
    redrive_job(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    messages = sorted(
        receive_all(sqs, resources.work_queue_url, AttributeNames=["All"]),
        key=lambda m: WorkBatch.model_validate_json(m["Body"]).batch_id,
    )
    # Two copiers take them; the second batch's copier happens to finish first.
    settings = Settings(stack_name="s3migrator", wait_time_s=0)
    with built_worker(settings, aws, resources, store=store) as worker:
        for message in reversed(messages):
            worker.handle(message)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))

    # THEN the destination holds k's versions in the source's order.
    assert bodies_of(s3, "dst-bucket", "k") == source
