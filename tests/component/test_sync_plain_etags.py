"""A sync compares plain ETags (MD5s of the bytes) when both sides have them: a same-size object
whose ETag differs is copied, even when the destination was written after the source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time
from moto_helpers import job_message

from progress.refresh import refresh
from s3migrator.settings import Settings


def test_a_same_size_object_of_another_plain_etag_is_copied(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, copy_all: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket")
    with freeze_time(datetime.now(UTC) - timedelta(hours=1)):
        s3.put_object(Bucket="src-bucket", Key="a.txt", Body=b"alpha")
    s3.put_object(Bucket="dst-bucket", Key="a.txt", Body=b"ALPHA")  # same size, later, other MD5
    make_runner().run(job_message("job-1", sync=True))
    copy_all()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    # THEN the ETags (plain MD5s) tell the objects apart: a.txt is copied.
    assert s3.get_object(Bucket="dst-bucket", Key="a.txt")["Body"].read() == b"alpha"
    assert record.listing.tally.unchanged == 0
