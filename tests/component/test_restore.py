"""A job that restores archived objects (``"restore": {"days", "tier"}``) asks S3 for each
restore once, lets the objects wait in remainder batches without using up their attempts, and
copies each once S3 says its restored copy is there; one that never is fails with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import fill, job_message

import copier.restore
from progress.refresh import refresh
from s3migrator.job_options import RestoreRequest
from s3migrator.models import JobState
from s3migrator.settings import Settings
from s3migrator.work import WorkItem


def archived_source(s3: Any) -> None:
    fill(s3, "src-bucket", {"warm.txt": b"readable"})
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"frozen", StorageClass="GLACIER")
    s3.put_object(
        Bucket="src-bucket", Key="colder.bin", Body=b"deeper", StorageClass="DEEP_ARCHIVE"
    )


def test_archived_objects_are_restored_then_copied(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    # GIVEN a source with two archived objects, and a job that restores them in bulk for 2 days
    archived_source(s3)
    restore = RestoreRequest(days=2, tier="Bulk")
    make_runner().run(job_message("job-1", restore=restore))
    asked: list[dict[str, Any]] = []
    real = copier.restore.restored

    def watched(clients: Any, spec: Any, item: WorkItem) -> None:
        asked.append({"key": item.key, "restore": spec.restore})
        real(clients, spec, item)

    # WHEN copiers work (S3 here restores at once: the first look asks, the second copies)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copier.restore, "restored", watched)
        drain(aws, resources, store)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN each archived object was restored as the job said, looked at twice, and copied
    for key in ("cold.bin", "colder.bin"):
        assert 'ongoing-request="false"' in s3.head_object(Bucket="src-bucket", Key=key)["Restore"]
        assert [a for a in asked if a["key"] == key] == [{"key": key, "restore": restore}] * 2
    copies = {
        key: s3.get_object(Bucket="dst-bucket", Key=key)["Body"].read()
        for key in ("warm.txt", "cold.bin", "colder.bin")
    }
    assert copies == {"warm.txt": b"readable", "cold.bin": b"frozen", "colder.bin": b"deeper"}
    # AND the counts are exact: three objects, three copied, none skipped as archived
    record = store.get_job("job-1")
    assert record.state is JobState.SUCCEEDED
    assert (record.listing.objects, record.counters.objects_copied) == (3, 3)
    assert record.listing.tally.archived == 0


def test_an_object_whose_restore_never_ends_fails_with_the_reason(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    # GIVEN a job restoring archived objects, whose restores never end
    archived_source(s3)
    make_runner().run(job_message("job-1", archived="restore"))

    def still_restoring(clients: Any, spec: Any, item: WorkItem) -> None:
        raise copier.restore.RestoreWaiting(item.key)

    # WHEN copiers look at them more times than they wait for
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(copier.restore, "restored", still_restoring)
        drain(aws, resources, store, max_restore_waits=3)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN each fails as RestoreTimeout, after its waits and without using up an attempt
    record = store.get_job("job-1")
    assert record.state is JobState.COMPLETED_WITH_FAILURES
    failures = store.batches.failures("job-1")
    assert [(f.key, f.code, f.attempts) for f in failures] == [
        ("cold.bin", "RestoreTimeout", 1),
        ("colder.bin", "RestoreTimeout", 1),
    ]
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 2)


def test_restore_goes_with_archived_restore() -> None:
    # A restore request implies archived "restore", and archived "restore" a default request
    assert job_message("job-1", restore=RestoreRequest()).archived == "restore"
    assert job_message("job-1", archived="restore").restore == RestoreRequest(days=7)
    with pytest.raises(ValueError, match='restore goes with "archived": "restore"'):
        job_message("job-1", archived="skip", restore=RestoreRequest())
