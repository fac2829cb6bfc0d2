"""On the last attempt of a key's history, the versions written before the one that still fails
count as copied; only that one and those after it are reported failed."""

from __future__ import annotations

from typing import Any

import pytest
from copier_drain import drain
from moto_helpers import job_message

from copier.objects import ObjectCopier
from progress.refresh import refresh
from s3migrator.errors import TransientError
from s3migrator.settings import Settings


def test_a_written_version_is_not_reported_failed(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="src-bucket", Key="k", Body=b"version a")
    s3.put_object(Bucket="src-bucket", Key="k", Body=b"version b, throttled")
    make_runner().run(job_message("job-1", versions="all"))
    real = ObjectCopier.copy

    def throttled_b(self: Any, spec: Any, item: Any, *, again: bool = False) -> int:
        if item.size == len(b"version b, throttled"):
            raise TransientError("SlowDown", "please reduce your request rate", 503)
        return real(self, spec, item, again=again)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ObjectCopier, "copy", throttled_b)
        # (remainders are sent without delay: the retry delay's base is 0)
        drain(aws, resources, store)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    failures = store.batches.failures("job-1")
    versions = s3.list_object_versions(Bucket="dst-bucket", Prefix="k").get("Versions", [])
    assert len(versions) == 1  # version a is at the destination, written once
    # THEN version a counts as copied; only version b is reported failed.
    assert (record.counters.objects_copied, record.counters.objects_failed) == (1, 1)
    assert [(f.code, f.attempts) for f in failures] == [("SlowDown", 5)]
