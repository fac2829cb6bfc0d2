"""Under overwrite "never" (the default), a split object whose destination already holds the
same bytes is counted copied, and its upload (every part copied, its completion refused) is
aborted. It was once left open, holding the whole object in parts (this test failed)."""

from __future__ import annotations

from typing import Any

from split_helpers import (
    calls_of,
    copier,
    counts,
    dispatched,
    drain,
    listed_huge,
    open_uploads,
)

from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources


def test_split_copy_onto_same_bytes_under_never_leaves_no_upload(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object listed, the destination already holding its very bytes (a previous
    # job copied it, or any earlier copy)
    body = listed_huge(s3, make_runner)
    s3.put_object(Bucket="dst-bucket", Key="huge.bin", Body=body)
    copier_s3, calls = calls_of(aws)
    # WHEN copiers copy it under the default rule "never"
    dispatched(aws, sqs, store, resources, copier_s3)
    with copier(aws, resources, store, copier_s3) as worker:
        drain(worker, sqs, resources)
    # THEN it is counted copied once (the destination holds it)
    assert counts(store) == (1, 0, 1)
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    # AND, as the single-copier multipart path guarantees, no upload (no part storage) is left
    assert calls["UploadPartCopy"] == 5
    assert open_uploads(s3) == []
