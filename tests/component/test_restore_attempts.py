"""Each object keeps its own count of attempts: one that waited for its restore in remainders
beside an object failing transiently has used none of its attempts, however many the remainder's
number says."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import fill, job_message

import copier.restore
from progress.refresh import refresh
from s3migrator.models import JobState
from s3migrator.settings import Settings
from s3migrator.work import WorkItem


def aborted(key: str) -> tuple[Any, dict[str, Any]]:
    """S3's answer to a copy a conflicting operation aborted: transient for the copier, not
    retried by botocore itself (409)."""
    error = {"Code": "OperationAborted", "Message": f"a conflicting operation on {key}"}
    return SimpleNamespace(status_code=409), {
        "Error": error,
        "ResponseMetadata": {"HTTPStatusCode": 409},
    }


def test_an_object_that_waited_beside_a_failing_one_keeps_its_attempts(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    # GIVEN a job restoring archived objects: one archived, one that fails every copy
    fill(s3, "src-bucket", {"flaky.txt": b"never copied"})
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"frozen", StorageClass="GLACIER")
    make_runner().run(job_message("job-1", archived="restore"))
    # AND a restore that takes four looks, and a first copy of the restored object that fails
    looks: list[str] = []
    real = copier.restore.restored

    def slow_restore(clients: Any, spec: Any, item: WorkItem) -> None:
        looks.append(item.key)
        if looks.count(item.key) < 4:
            raise copier.restore.RestoreWaiting(item.key)
        real(clients, spec, item)

    copies: list[str] = []

    def failing(params: dict[str, Any], **_: Any) -> Any:
        key = params["url_path"].rsplit("/", 1)[-1]
        copies.append(key)
        if key == "flaky.txt" or copies.count(key) == 1:
            return aborted(key)
        return None

    client = aws.s3()
    client.meta.events.register("before-call.s3.CopyObject", failing)
    # WHEN copiers work, each object allowed two attempts
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copier.restore, "restored", slow_restore)
        drain(aws, resources, store, client, max_item_attempts=2)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN the object failing every copy failed after its two attempts
    failures = store.batches.failures("job-1")
    assert [(f.key, f.code, f.attempts) for f in failures] == [("flaky.txt", "OperationAborted", 2)]
    # AND the restored object, whose first copy failed, had its second attempt and is copied
    assert copies.count("cold.bin") == 2
    assert s3.get_object(Bucket="dst-bucket", Key="cold.bin")["Body"].read() == b"frozen"
    record = store.get_job("job-1")
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 1)
