"""Under overwrite "never", a versions job leaves a destination key that already holds another
object as it is, even when ETags cannot tell its versions apart (a source uploaded in parts):
on a first delivery nothing at the destination is taken for the job's own copy."""

from __future__ import annotations

from typing import Any

from moto_helpers import job_message

from progress.refresh import refresh
from s3migrator.histories import oldest_first
from s3migrator.settings import MiB, Settings

PART = 5 * MiB


def history_of(s3: Any, bucket: str, key: str) -> list[bytes | None]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [
        None
        if e.get("DeleteMarker")
        else s3.get_object(Bucket=bucket, Key=key, VersionId=e["VersionId"])["Body"].read()
        for e in oldest_first(page.get("Versions", []), page.get("DeleteMarkers", []))
    ]


def test_an_existing_object_is_not_replaced_under_never(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, run_copier: Any
) -> None:
    s3.create_bucket(Bucket="src-bucket")
    s3.put_bucket_versioning(Bucket="src-bucket", VersioningConfiguration={"Status": "Enabled"})
    body_a = b"a" * (PART + 1000)
    upload = s3.create_multipart_upload(Bucket="src-bucket", Key="k")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body_a), PART), start=1):
        etag = s3.upload_part(
            Bucket="src-bucket",
            Key="k",
            UploadId=upload,
            PartNumber=number,
            Body=body_a[start : start + PART],
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket="src-bucket", Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    s3.put_object(Bucket="src-bucket", Key="k", Body=b"version b")
    # Someone else's object at the destination key: same size as version A, other bytes.
    s3.create_bucket(Bucket="dst-bucket")
    s3.put_bucket_versioning(Bucket="dst-bucket", VersioningConfiguration={"Status": "Enabled"})
    theirs = b"x" * len(body_a)
    s3.put_object(Bucket="dst-bucket", Key="k", Body=theirs)

    make_runner().run(job_message("job-1", versions="all"))  # overwrite "never"
    run_copier()
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job("job-1")
    print("destination history:", [b[:9] if b else b for b in history_of(s3, "dst-bucket", "k")])
    # THEN the existing object is left as it is (the current version is still
    # theirs) and the key's versions fail as DestinationExists, none counted as copied.
    assert s3.get_object(Bucket="dst-bucket", Key="k")["Body"].read() == theirs
    assert record.counters.objects_copied == 0
