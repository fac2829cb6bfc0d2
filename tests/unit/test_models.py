"""Wire models: the job message contract and the spec copiers work from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from s3migrator.models import CopySpec, JobMessage, Location, Mode
from s3migrator.work import WorkBatch

MINIMAL = {"mode": "copy", "source": {"bucket": "src"}, "destination": {"bucket": "dst"}}


def with_locations(source: dict, destination: dict) -> dict:
    return {"mode": "copy", "source": source, "destination": destination}


def test_minimal_job_message_parses_with_defaults() -> None:
    # WHEN the documented minimal message is parsed
    job = JobMessage.model_validate(MINIMAL)
    # THEN it names the buckets, empty prefixes and no job id yet
    assert job.mode is Mode.COPY
    assert (job.source.bucket, job.source.prefix) == ("src", "")
    assert (job.destination.bucket, job.destination.prefix) == ("dst", "")
    assert job.job_id is None
    assert job.options.multipart_threshold_bytes is None


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValidationError, match="mode"):
        JobMessage.model_validate({**MINIMAL, "mode": "move"})


@pytest.mark.parametrize(
    "bucket",
    [
        "ab",
        "x" * 64,
        "Upper-case",
        "under_score",
        "-starts-with-hyphen",
        "ends-with-hyphen-",
        "double..dot",
        "192.168.1.1",
        "",
    ],
)
def test_invalid_bucket_names_are_rejected(bucket: str) -> None:
    with pytest.raises(ValidationError, match="invalid bucket name"):
        JobMessage.model_validate({**MINIMAL, "source": {"bucket": bucket}})


@pytest.mark.parametrize("bucket", ["xn--bucket", "bucket-s3alias"])
def test_reserved_bucket_prefixes_and_suffixes_are_rejected(bucket: str) -> None:
    # S3 general purpose bucket rules reserve these prefixes and suffixes; an unchecked name
    # fails later at CreateBucket with a ClientError the coordinator retries instead of failing.
    with pytest.raises(ValidationError):
        JobMessage.model_validate({**MINIMAL, "destination": {"bucket": bucket}})


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "my.bucket-1", "123bucket"])
def test_valid_bucket_names_are_accepted(bucket: str) -> None:
    assert (
        JobMessage.model_validate({**MINIMAL, "source": {"bucket": bucket}}).source.bucket == bucket
    )


@pytest.mark.parametrize("where", [("top", {"priority": 1}), ("source", {"acl": "private"})])
def test_extra_fields_are_rejected(where: tuple[str, dict]) -> None:
    place, extra = where
    data = (
        {**MINIMAL, **extra}
        if place == "top"
        else {**MINIMAL, "source": {"bucket": "src", **extra}}
    )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        JobMessage.model_validate(data)


@pytest.mark.parametrize(
    ("source_prefix", "destination_prefix"),
    [
        ("", ""),
        ("", "copy/"),
        ("data/", ""),
        ("data/", "data/"),
        ("data/", "data/copy/"),
        ("a", "ab"),
    ],
)
def test_overlapping_prefixes_in_the_same_bucket_are_rejected(
    source_prefix: str, destination_prefix: str
) -> None:
    data = with_locations(
        {"bucket": "same", "prefix": source_prefix},
        {"bucket": "same", "prefix": destination_prefix},
    )
    with pytest.raises(ValidationError, match="overlap"):
        JobMessage.model_validate(data)


@pytest.mark.parametrize(
    ("source_prefix", "destination_prefix"),
    [("data/", "backup/"), ("logs/", "logs-archive/"), ("2024/a/", "2024/b/")],
)
def test_disjoint_prefixes_in_the_same_bucket_are_accepted(
    source_prefix: str, destination_prefix: str
) -> None:
    job = JobMessage.model_validate(
        with_locations(
            {"bucket": "same", "prefix": source_prefix},
            {"bucket": "same", "prefix": destination_prefix},
        )
    )
    assert (job.source.prefix, job.destination.prefix) == (source_prefix, destination_prefix)


def test_same_prefix_in_different_buckets_is_accepted() -> None:
    job = JobMessage.model_validate(
        with_locations({"bucket": "one", "prefix": "p/"}, {"bucket": "two", "prefix": "p/"})
    )
    assert job.source.bucket != job.destination.bucket


def test_prefix_of_1024_bytes_is_rejected() -> None:
    with pytest.raises(ValidationError, match="1024"):
        Location(bucket="abc", prefix="é" * 512)


@pytest.mark.parametrize(
    ("source_prefix", "destination_prefix", "key", "expected"),
    [
        ("", "", "a/b.txt", "a/b.txt"),
        ("in/", "out/", "in/a/b.txt", "out/a/b.txt"),
        ("in/", "", "in/x", "x"),
        ("", "copy/", "x", "copy/x"),
    ],
)
def test_destination_key_replaces_the_source_prefix(
    source_prefix: str, destination_prefix: str, key: str, expected: str
) -> None:
    spec = CopySpec(
        job_id="j",
        source=Location(bucket="src", prefix=source_prefix),
        destination=Location(bucket="dst", prefix=destination_prefix),
    )
    assert spec.destination_key(key) == expected


def test_schema_requires_mode_source_and_destination() -> None:
    schema = JobMessage.model_json_schema()
    assert set(schema["required"]) == {"mode", "source", "destination"}
    assert schema["additionalProperties"] is False


def test_with_id_generates_an_id_once_and_keeps_a_given_one() -> None:
    generated = JobMessage.model_validate(MINIMAL).with_id()
    assert generated.job_id
    assert generated.with_id() is generated
    given = JobMessage.model_validate({**MINIMAL, "job_id": "nightly-2024"}).with_id()
    assert given.job_id == "nightly-2024"


@pytest.mark.parametrize("job_id", ["", "has space", "-leading", "x" * 129])
def test_invalid_job_ids_are_rejected(job_id: str) -> None:
    with pytest.raises(ValidationError):
        JobMessage.model_validate({**MINIMAL, "job_id": job_id})


def test_work_batch_roundtrips_through_json() -> None:
    spec = CopySpec(job_id="j", source=Location(bucket="src"), destination=Location(bucket="dst"))
    batch = WorkBatch(batch_id="j:000000000", spec=spec, items=[])
    assert WorkBatch.model_validate_json(batch.model_dump_json()) == batch
