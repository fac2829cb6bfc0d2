"""Each copy is verified as it is made when S3's answer can tell: a single-part copy whose ETag
is its source's holds the same bytes (a copy made in parts, by its source's CRC of the whole
object: ``test_copy_checksums.py``). The count is kept per batch and per job; copies that
cannot be told so are left to ``s3migrator verify JOB_ID``, and status says so."""

from __future__ import annotations

import os
from typing import Any

import boto3
from moto_helpers import fill, job_message, without_checksum

from progress.refresh import refresh
from progress.status import to_status
from s3migrator.cli.render import verified_line
from s3migrator.job_status import QueueDepths
from s3migrator.jobstore.codec import batch_key
from s3migrator.models import JobState
from s3migrator.settings import MiB, Settings


def test_single_part_copies_are_verified_as_made_and_counted_per_batch_and_job(
    s3: Any, sqs: Any, store: Any, resources: Any, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN five small objects and one copied in parts, stored without a checksum, listed in
    # two batches
    objects = {f"small-{n}": os.urandom(100 + n) for n in range(5)}
    fill(s3, "src-bucket", objects)
    without_checksum(s3).put_object(Bucket="src-bucket", Key="big.bin", Body=os.urandom(9 * MiB))
    make_runner(batch_max_keys=3).run(job_message("job-1"))
    # WHEN the copier copies them (in parts above 8 MiB)
    run_copier(threshold=8 * MiB, part_size=5 * MiB)
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    # THEN the five single-part copies were verified by S3's answer, the multipart one not
    record = store.get_job("job-1")
    assert record.state is JobState.SUCCEEDED
    assert (record.counters.objects_copied, record.counters.objects_verified) == (6, 5)
    # AND each batch's record says how many of its copies were verified
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    batches = [
        ddb.get_item(TableName=resources.table_name, Key=batch_key("job-1", f"job-1:{n:09d}"))
        for n in range(2)
    ]
    # (big.bin, small-0, small-1), then (small-2, small-3, small-4)
    assert [int(b["Item"]["verified"]["N"]) for b in batches] == [2, 3]
    # AND status says what verifies the rest
    status = to_status(record, QueueDepths())
    assert verified_line(status) == (
        "5 of 6 copies verified as made (ETag, or checksum of the whole object); 1 made in"
        " parts without a CRC of the whole object, or under SSE-KMS: `s3migrator verify job-1`"
        " compares them"
    )
