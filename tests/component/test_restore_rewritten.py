"""An archived object written again after the listing, readable now, is copied as it is now
(as any object changed since its listing), not failed on the listed ETag."""

from __future__ import annotations

from typing import Any

from copier_drain import drain
from moto_helpers import job_message

from progress.refresh import refresh
from s3migrator.settings import Settings


def test_a_rewritten_archived_object_is_copied_as_it_is_now(
    aws: Any, s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"old, cold", StorageClass="GLACIER")
    s3.put_object(Bucket="src-bucket", Key="warm.txt", Body=b"old, warm")
    make_runner().run(job_message("job-1", archived="restore"))
    # both rewritten after the listing, as readable objects
    s3.put_object(Bucket="src-bucket", Key="cold.bin", Body=b"new, warm now")
    s3.put_object(Bucket="src-bucket", Key="warm.txt", Body=b"new, warm")
    drain(aws, resources, store)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    dst = {o["Key"] for o in s3.list_objects_v2(Bucket="dst-bucket").get("Contents", [])}
    assert dst == {"warm.txt", "cold.bin"}
    copied = s3.get_object(Bucket="dst-bucket", Key="cold.bin")["Body"].read()
    assert copied == b"new, warm now"
