"""A redrive appends what failed after what the destination holds, without taking a version
there for the one it sends: a key re-uploaded with the same bytes ([same, same, b]) whose second
version failed gets all three versions, not two."""

from __future__ import annotations

from typing import Any

import pytest
from moto_helpers import job_message

from copier.objects import ObjectCopier
from progress.refresh import refresh
from s3migrator.cli.jobs import redrive_job
from s3migrator.errors import PermanentError
from s3migrator.histories import oldest_first
from s3migrator.models import JobState
from s3migrator.settings import Settings


def bodies(s3: Any, bucket: str, key: str) -> list[bytes]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [
        s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in oldest_first(page.get("Versions", []), [])
    ]


def test_a_redriven_version_equal_to_the_one_before_it_is_written(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, copy_all: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="src-bucket", Key="k", Body=b"same")
    second = s3.put_object(Bucket="src-bucket", Key="k", Body=b"same")["VersionId"]
    s3.put_object(Bucket="src-bucket", Key="k", Body=b"b")
    make_runner().run(job_message("job-1", versions="all"))
    real = ObjectCopier.copy

    def denied_second(self: Any, spec: Any, item: Any, *, again: bool = False) -> int:
        if item.version_id == second:
            raise PermanentError("AccessDenied", "denied", 403)
        return real(self, spec, item, again=again)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ObjectCopier, "copy", denied_second)
        copy_all()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    assert store.get_job("job-1").state is JobState.COMPLETED_WITH_FAILURES
    assert bodies(s3, "dst-bucket", "k") == [b"same"]
    # The cause fixed, the job is redriven.
    redrive_job(store, sqs, resources, "job-1", Settings(stack_name="s3migrator"))
    copy_all()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    # THEN the destination holds the source's three versions, in order, and the job succeeds
    assert bodies(s3, "dst-bucket", "k") == [b"same", b"same", b"b"]
    assert record.state is JobState.SUCCEEDED
