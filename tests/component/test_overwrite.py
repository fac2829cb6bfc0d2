"""A job's overwrite rule against moto: what a copy does with a destination key that exists.

``never`` (the default) writes with ``If-None-Match: *``, so S3 itself refuses to replace an
object; ``if-different`` leaves an identical object alone and replaces any other; ``always``
replaces. Moto is made to honour ``If-None-Match`` on CopyObject by ``patch_moto()``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto_helpers import depth, fill, job_message

from copier.objects import ObjectCopier
from progress.refresh import refresh
from s3migrator.aws import Aws
from s3migrator.errors import InvalidJobMessageError, PermanentError
from s3migrator.failures import FailureRecord
from s3migrator.jobstore import JobStore
from s3migrator.models import CopySpec, JobMessage, JobState, Location, Overwrite
from s3migrator.resources import Resources
from s3migrator.sessions import s3_clients
from s3migrator.settings import MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
MULTIPART = 11 * MiB  # three parts of up to 5 MiB: 5 + 5 + 1


def etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def exists_message(key: str) -> str:
    return (
        f"the destination already holds a different object at {key!r}; the job's overwrite"
        ' rule is "never" (send the job with "overwrite": "if-different" or "always" to'
        " replace it)"
    )


def contents(s3: Any, bucket: str = "dst-bucket") -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def watching(aws: Aws, operation: str) -> tuple[Any, list[str]]:
    """A real S3 client that records the Key of every ``operation`` request it makes."""
    s3 = aws.s3()
    keys: list[str] = []
    s3.meta.events.register(
        f"before-parameter-build.s3.{operation}", lambda params, **_: keys.append(params["Key"])
    )
    return s3, keys


def answers(s3: Any) -> list[tuple[str, int]]:
    """Every (operation, HTTP status) ``s3`` gets back, in order, from now on."""
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def record(http_response: Any, model: Any, **_: Any) -> None:
        with lock:
            seen.append((model.name, http_response.status_code))

    s3.meta.events.register("after-call.s3", record)
    return seen


@pytest.fixture
def copier(aws: Aws, s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier wired as ``copier.process`` wires it, multipart from 5 MiB, whose
    client for sides without a role is the test's ``s3``."""
    with ThreadPoolExecutor(4, thread_name_prefix="part") as parts_pool:
        yield ObjectCopier(
            clients=s3_clients(aws, Settings(), default=s3),
            parts_pool=parts_pool,
            multipart_threshold_bytes=5 * MiB,
            part_size_bytes=5 * MiB,
        )


def bound_spec(overwrite: Overwrite = Overwrite.NEVER) -> CopySpec:
    """A spec as the coordinator hands it to copiers: each side bound to the stack's account."""
    return CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
        destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
        overwrite=overwrite,
    )


# --- never ----------------------------------------------------------------------------------


def test_never_leaves_a_different_destination_object_in_place_and_fails_it_as_destination_exists(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, copy_all: Any
) -> None:
    # GIVEN three source objects, and a destination bucket already holding another b.txt
    objects = {"a.txt": b"alpha", "b.txt": b"bravo, new", "c.txt": b"charlie"}
    fill(s3, "src-bucket", objects)
    fill(s3, "dst-bucket", {"b.txt": b"bravo, old and different"})
    # WHEN a job without an overwrite rule runs to the end
    make_runner().run(job_message("job-1"))
    copy_all()
    (status,) = refresh(store, sqs, resources)
    # THEN it completed with one failure: b.txt, refused as DestinationExists
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.COMPLETED_WITH_FAILURES,
        2,
        1,
    )
    assert store.batches.failures("job-1") == [
        FailureRecord(
            key="b.txt",
            code="DestinationExists",
            message=exists_message("b.txt"),
            http_status=412,
            attempts=1,
            size=len(objects["b.txt"]),
            etag=etag(objects["b.txt"]),
        )
    ]
    # AND the old b.txt is byte for byte what it was, and the other objects were copied
    assert contents(s3) == {
        "a.txt": b"alpha",
        "b.txt": b"bravo, old and different",
        "c.txt": b"charlie",
    }
    assert depth(sqs, resources.work_queue_url) == 0


@pytest.mark.parametrize(
    ("size", "first_copy", "second_copy"),
    [
        pytest.param(
            1024,
            # once per job, whether the source's bucket has Object Lock (it has none), then
            # the copy
            [("GetObjectLockConfiguration", 404), ("CopyObject", 200)],
            # refused by S3 itself, then recognised as this very object
            [("CopyObject", 412), ("HeadObject", 200)],
            id="single-part",
        ),
        pytest.param(
            MULTIPART,
            # the source's properties, then the destination key found free
            [
                ("HeadObject", 200),
                ("HeadObject", 404),
                ("CreateMultipartUpload", 200),
                *[("UploadPartCopy", 200)] * 3,
                ("CompleteMultipartUpload", 200),
                ("HeadObject", 200),  # the copy's CRC (moto's completion does not answer it)
            ],
            # the destination holds an object of the same size: copied, the completion
            # refused, recognised by the ETag these parts make, then aborted
            [
                ("HeadObject", 200),
                ("HeadObject", 200),
                ("CreateMultipartUpload", 200),
                *[("UploadPartCopy", 200)] * 3,
                ("CompleteMultipartUpload", 412),
                ("HeadObject", 200),
                ("AbortMultipartUpload", 204),
            ],
            id="multipart",
        ),
    ],
)
def test_never_counts_a_second_copy_of_the_same_object_as_copied(
    s3: Any,
    copier: ObjectCopier,
    size: int,
    first_copy: list[tuple[str, int]],
    second_copy: list[tuple[str, int]],
) -> None:
    # GIVEN a source object, copied once already by a delivery whose count was lost
    body = os.urandom(size)
    fill(s3, "src-bucket", {"obj": body})
    s3.create_bucket(Bucket="dst-bucket")
    item = WorkItem(key="obj", size=size, etag=etag(body))
    seen = answers(s3)
    assert copier.copy(bound_spec(), item) == size
    assert sorted(seen) == sorted(first_copy)
    seen.clear()
    # WHEN the redelivered batch copies it again under "never"
    copied = copier.copy(bound_spec(), item)
    # THEN it counts as copied, after S3 refused to write it again
    assert copied == size
    assert sorted(seen) == sorted(second_copy)
    # AND the destination holds the source's bytes, with no upload left behind
    assert s3.get_object(Bucket="dst-bucket", Key="obj")["Body"].read() == body
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


def test_never_refuses_a_multipart_copy_onto_a_different_object_and_leaves_no_upload(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN an 11 MiB source object, and a different object at its key in the destination
    body = os.urandom(MULTIPART)
    fill(s3, "src-bucket", {"big": body})
    fill(s3, "dst-bucket", {"big": b"the old big object"})
    # WHEN it is copied (multipart) under "never"
    with pytest.raises(PermanentError) as refused:
        copier.copy(bound_spec(), WorkItem(key="big", size=MULTIPART, etag=etag(body)))
    # THEN the copy fails as DestinationExists, naming the key
    assert (refused.value.code, refused.value.message, refused.value.http_status) == (
        "DestinationExists",
        exists_message("big"),
        412,
    )
    # AND the old object is unchanged, and no multipart upload is left in the destination
    assert contents(s3) == {"big": b"the old big object"}
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


def test_never_refuses_a_multipart_copy_onto_another_object_of_the_same_size(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN an 11 MiB source object, and another object of exactly its size at its key
    body, other = os.urandom(MULTIPART), os.urandom(MULTIPART)
    fill(s3, "src-bucket", {"big": body})
    fill(s3, "dst-bucket", {"big": other})
    # WHEN it is copied (multipart) under "never": the size alone cannot tell them apart
    with pytest.raises(PermanentError) as refused:
        copier.copy(bound_spec(), WorkItem(key="big", size=MULTIPART, etag=etag(body)))
    # THEN the completion is refused and the ETag the parts make differs: DestinationExists
    assert (refused.value.code, refused.value.http_status) == ("DestinationExists", 412)
    # AND the other object is unchanged, and the upload was aborted
    assert contents(s3) == {"big": other}
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


def test_never_fails_a_multipart_object_of_a_job_and_leaves_the_old_one(
    s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any, run_copier: Any
) -> None:
    # GIVEN a job whose 11 MiB object meets a different object at its destination key
    body = os.urandom(MULTIPART)
    fill(s3, "src-bucket", {"big": body, "small": b"s"})
    fill(s3, "dst-bucket", {"big": b"old"})
    make_runner().run(job_message("job-1"))
    # WHEN a copier copies multipart from 5 MiB and progress runs
    run_copier(threshold=5 * MiB)
    (status,) = refresh(store, sqs, resources)
    # THEN the job completed with that one failure, and the old object is untouched
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.COMPLETED_WITH_FAILURES,
        1,
        1,
    )
    assert [(f.key, f.code, f.message) for f in store.batches.failures("job-1")] == [
        ("big", "DestinationExists", exists_message("big"))
    ]
    assert contents(s3) == {"big": b"old", "small": b"s"}
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


# --- if-different and always ----------------------------------------------------------------


def test_if_different_copies_only_what_differs_and_counts_the_identical_object_as_copied(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN a destination holding an identical same.txt and a different diff.txt
    objects = {"same.txt": b"the same bytes", "diff.txt": b"the new bytes"}
    fill(s3, "src-bucket", objects)
    fill(s3, "dst-bucket", {"same.txt": b"the same bytes", "diff.txt": b"old"})
    # WHEN an "if-different" job runs, its copier's CopyObject requests recorded
    make_runner().run(job_message("job-1", overwrite=Overwrite.IF_DIFFERENT))
    watched, copied_keys = watching(aws, "CopyObject")
    run_copier(watched)
    (status,) = refresh(store, sqs, resources)
    # THEN only diff.txt was copied, and both count as copied
    assert copied_keys == ["diff.txt"]
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        2,
        0,
    )
    job = store.get_job("job-1")
    assert job is not None
    assert job.counters.bytes_copied == sum(len(b) for b in objects.values())
    # AND the destination holds the source's bytes
    assert contents(s3) == objects


def test_always_replaces_every_destination_object(
    aws: Aws,
    s3: Any,
    sqs: Any,
    store: JobStore,
    resources: Resources,
    make_runner: Any,
    run_copier: Any,
) -> None:
    # GIVEN a destination holding an identical same.txt and a different diff.txt
    objects = {"same.txt": b"the same bytes", "diff.txt": b"the new bytes"}
    fill(s3, "src-bucket", objects)
    fill(s3, "dst-bucket", {"same.txt": b"the same bytes", "diff.txt": b"old"})
    # WHEN an "always" job runs, its copier's CopyObject requests recorded
    make_runner().run(job_message("job-1", overwrite=Overwrite.ALWAYS))
    watched, copied_keys = watching(aws, "CopyObject")
    run_copier(watched)
    (status,) = refresh(store, sqs, resources)
    # THEN both were copied over, and the different one now holds the source's bytes
    assert sorted(copied_keys) == ["diff.txt", "same.txt"]
    assert (status.state, status.objects_copied, status.objects_failed) == (
        JobState.SUCCEEDED,
        2,
        0,
    )
    assert contents(s3) == objects


# --- the rule in the job message ------------------------------------------------------------

VALID = {"mode": "copy", "source": {"bucket": "src-bucket"}, "destination": {"bucket": "dst-b"}}


def test_a_message_without_overwrite_means_never_and_each_rule_is_parsed() -> None:
    assert JobMessage.parse(json.dumps(VALID)).overwrite is Overwrite.NEVER
    for rule in ("never", "if-different", "always"):
        assert JobMessage.parse(json.dumps({**VALID, "overwrite": rule})).overwrite == rule


def test_an_unknown_overwrite_rule_is_refused_with_the_allowed_values() -> None:
    # GIVEN a message with an overwrite rule the tool does not know
    body = json.dumps({**VALID, "job_id": "job-1", "overwrite": "sometimes"})
    # WHEN it is parsed
    with pytest.raises(InvalidJobMessageError) as refused:
        JobMessage.parse(body)
    # THEN the reason names the field and the values it takes, and the job id is kept
    assert str(refused.value) == (
        "invalid job message: overwrite: Input should be 'never', 'if-different' or 'always'"
    )
    assert refused.value.job_id == "job-1"
