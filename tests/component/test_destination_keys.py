"""A key that would be too long under the destination prefix is a reported failure, not a retry."""

from __future__ import annotations

from typing import Any

from moto_helpers import fill, job_message

from s3migrator.jobstore import JobStore


def test_key_too_long_for_the_destination_prefix_fails_at_once_with_its_reason(
    s3: Any, store: JobStore, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a 1,020-byte key and a short one, copied under a 10-byte destination prefix
    long_key = "k" * 1020
    fill(s3, "src-bucket", {long_key: b"long", "short": b"fine"})
    make_runner().run(job_message("job-1", destination_prefix="ten-bytes/"))

    # WHEN the copier runs
    run_copier()

    # THEN the short key is copied, the long one fails once as KeyTooLongError, and the job's
    # counters are final after a single delivery
    job = store.get_job("job-1")
    assert job is not None
    assert (job.counters.objects_copied, job.counters.objects_failed) == (1, 1)
    (failure,) = store.batches.failures("job-1")
    assert failure.key == long_key
    assert failure.code == "KeyTooLongError"
    assert "1030 bytes" in failure.message
    assert failure.attempts == 1
    assert s3.get_object(Bucket="dst-bucket", Key="ten-bytes/short")["Body"].read() == b"fine"
