"""A redrive of an archived object whose restore failed (its RestoreObject refused) restores it
again: the failure record keeps that the object is one to restore."""

from __future__ import annotations

from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import job_message

import copier.restore
from progress.refresh import refresh
from s3migrator.cli.jobs import redrive_job as redrive
from s3migrator.errors import AccessDeniedError
from s3migrator.settings import Settings


def test_a_redriven_archived_object_is_restored(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"cold", StorageClass="GLACIER")
    make_runner().run(job_message("job-1", archived="restore"))
    real = copier.restore.restored
    looks: list[str] = []

    def denied(clients: Any, spec: Any, item: Any) -> None:
        looks.append("denied")
        raise AccessDeniedError("AccessDenied", "s3:RestoreObject not granted")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copier.restore, "restored", denied)
        drain(aws, resources, store)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))

    def watched(clients: Any, spec: Any, item: Any) -> None:
        looks.append("asked")
        real(clients, spec, item)

    # the owner grants RestoreObject; the job is redriven
    redrive(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copier.restore, "restored", watched)
        drain(aws, resources, store)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    print(
        "after redrive:", record.state, [(f.key, f.code) for f in store.batches.failures("job-1")]
    )
    assert "asked" in looks, "the redrive never asked S3 to restore the archived object"
    assert record.counters.objects_copied == 1
