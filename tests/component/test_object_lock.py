"""A copy keeps its source's Object Lock retention and legal hold (the job's ``object_lock``,
"keep" by default), one CopyObject or a multipart copy alike, where the destination has Object
Lock; it fails, saying why, where the destination has none; and a source bucket without Object
Lock costs one GetObjectLockConfiguration per job, and nothing per object.

Moto lacks some of S3's Object Lock rules, which ``LockRules`` adds to the copier's client
(botocore's events; a refused request never reaches moto): it ignores the lock a
CreateMultipartUpload names (takes it into a bucket without Object Lock, leaves the completed
object unlocked) and takes a retain-until date in the past. It also asks a CopyObject that names
a lock for a Content-MD5 or checksum header, as if it uploaded a body (S3's CopyObject has none
and takes no Content-MD5): the rules send the header moto wants. Moto has no GetObjectRetention:
retention is read back with HeadObject.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from copier.objects import ObjectCopier
from s3migrator.aws import Aws
from s3migrator.errors import AccessDeniedError, PermanentError
from s3migrator.models import CopySpec, JobOptions, Location, Overwrite
from s3migrator.sessions import s3_clients
from s3migrator.settings import GiB, MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
SINGLE, MULTIPART = 1024, 11 * MiB  # one CopyObject; three parts of at most 5 MiB
SIZES = pytest.mark.parametrize("size", [SINGLE, MULTIPART], ids=["single-part", "multipart"])
UNTIL = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
LOCK_FIELDS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")
GIVEN = "test_parameters"  # where a request's parameters are kept in its context
IGNORE = '"options": {"object_lock": "ignore"}'


def spec(job_id: str = "job-1", **options: Any) -> CopySpec:
    """A job with these options, copying in 5 MiB parts from 5 MiB."""
    return CopySpec(
        job_id=job_id,
        source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
        destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
        options=JobOptions(multipart_threshold_bytes=5 * MiB, part_size_bytes=5 * MiB, **options),
        overwrite=Overwrite.NEVER,
    )


def _refused(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """An error answer, as botocore would parse S3's."""
    answer = {"Error": {"Code": code, "Message": message}}
    return SimpleNamespace(status_code=status), {
        **answer,
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


class LockRules:
    """S3's Object Lock rules moto lacks, on the copier's client; ``sent``: every request's
    operation and bucket. ``s3``, a client without the rules, applies a completed upload's lock
    as S3 would."""

    def __init__(self, s3: Any, copier_s3: Any, locked: set[str]) -> None:
        self.s3, self.locked = s3, locked
        self.sent: list[tuple[str, str]] = []
        self.denied: set[str] = set()  # buckets whose configuration the copier may not read
        self.uploads: dict[str, dict[str, Any]] = {}
        events = copier_s3.meta.events
        events.register("before-parameter-build.s3", self._keep)
        events.register("before-call.s3", self._before)
        events.register("after-call.s3.CreateMultipartUpload", self._created)
        events.register("after-call.s3.CompleteMultipartUpload", self._completed)

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.sent]

    def _keep(self, params: dict[str, Any], context: Any, **_: Any) -> None:
        context[GIVEN] = dict(params)

    def _before(self, model: Any, params: dict[str, Any], context: Any, **_: Any) -> Any:
        operation, given = model.name, context[GIVEN]
        self.sent.append((operation, given.get("Bucket", "")))
        if operation == "GetObjectLockConfiguration":
            time.sleep(0.05)  # a slow answer: copies on other threads ask meanwhile
            if given["Bucket"] in self.denied:
                return _refused(403, "AccessDenied", "Access Denied")
        lock = {name: given[name] for name in LOCK_FIELDS if name in given}
        if not lock or operation not in ("CopyObject", "CreateMultipartUpload"):
            return None
        if given["Bucket"] not in self.locked:
            return _refused(400, "InvalidRequest", "Bucket is missing ObjectLockConfiguration")
        if lock.get("ObjectLockRetainUntilDate", UNTIL) <= datetime.now(UTC):
            return _refused(400, "InvalidArgument", "The retain until date must be in the future!")
        if operation == "CopyObject":
            params["headers"]["x-amz-sdk-checksum-algorithm"] = "CRC32"  # for moto only
        return None

    def _created(self, parsed: dict[str, Any], context: Any, **_: Any) -> None:
        self.uploads[parsed["UploadId"]] = context[GIVEN]

    def _completed(self, context: Any, **_: Any) -> None:
        given = self.uploads.pop(context[GIVEN]["UploadId"])
        where = {"Bucket": given["Bucket"], "Key": given["Key"]}
        if "ObjectLockMode" in given:
            retention = {
                "Mode": given["ObjectLockMode"],
                "RetainUntilDate": given["ObjectLockRetainUntilDate"],
            }
            self.s3.put_object_retention(**where, Retention=retention)
        if given.get("ObjectLockLegalHoldStatus") == "ON":
            self.s3.put_object_legal_hold(**where, LegalHold={"Status": "ON"})


@pytest.fixture
def copier_s3(aws: Aws) -> Any:
    """The copier's own client, for the rules to watch."""
    return aws.s3()


@pytest.fixture
def copier(aws: Aws, copier_s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier as ``copier.process`` wires it; the job's options set the threshold."""
    with ThreadPoolExecutor(2) as parts:
        clients = s3_clients(aws, Settings(), default=copier_s3)
        yield ObjectCopier(clients, parts, 5 * GiB - MiB, 256 * MiB)


def buckets(s3: Any, copier_s3: Any, *, source_locked: bool, destination_locked: bool) -> LockRules:
    """The source and destination buckets, each with Object Lock or without, and the rules."""
    s3.create_bucket(Bucket="src-bucket", ObjectLockEnabledForBucket=source_locked)
    s3.create_bucket(Bucket="dst-bucket", ObjectLockEnabledForBucket=destination_locked)
    locked = {"src-bucket"} if source_locked else set()
    return LockRules(s3, copier_s3, locked | ({"dst-bucket"} if destination_locked else set()))


def put(s3: Any, key: str, size: int, **lock: Any) -> WorkItem:
    """``key`` of ``size`` random bytes in the source, with this lock, as listed."""
    etag = s3.put_object(Bucket="src-bucket", Key=key, Body=os.urandom(size), **lock)["ETag"]
    return WorkItem(key=key, size=size, etag=etag)


def lock_of(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key)
    return {name: head[name] for name in LOCK_FIELDS if name in head}


def locked(mode: str, until: datetime = UNTIL) -> dict[str, Any]:
    return {"ObjectLockMode": mode, "ObjectLockRetainUntilDate": until}


HELD = {"ObjectLockLegalHoldStatus": "ON"}
# What a locked object's copy costs, under "never" (a multipart copy heads the destination).
REQUESTS = {
    SINGLE: [
        ("GetObjectLockConfiguration", "src-bucket"),
        ("HeadObject", "src-bucket"),
        ("GetObjectLockConfiguration", "dst-bucket"),
        ("CopyObject", "dst-bucket"),
    ],
    MULTIPART: [
        ("HeadObject", "src-bucket"),
        ("GetObjectLockConfiguration", "dst-bucket"),
        ("HeadObject", "dst-bucket"),
        ("CreateMultipartUpload", "dst-bucket"),
        *[("UploadPartCopy", "dst-bucket")] * 3,
        ("CompleteMultipartUpload", "dst-bucket"),
        ("HeadObject", "dst-bucket"),  # the copy's CRC (moto's completion does not answer it)
    ],
}


@SIZES
@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_a_copy_keeps_its_sources_retention_and_legal_hold(
    s3: Any, copier_s3: Any, copier: ObjectCopier, size: int, mode: str
) -> None:
    # GIVEN a source under retention until a date to come, and a legal hold, in a bucket with
    # Object Lock, and a destination with Object Lock
    rules = buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    item = put(s3, "deed.pdf", size, **locked(mode), **HELD)
    # WHEN it is copied
    assert copier.copy(spec(), item) == size
    # THEN its copy is locked alike: same mode, same date, legal hold on
    assert lock_of(s3, "dst-bucket", "deed.pdf") == {**locked(mode), **HELD}
    hold = s3.get_object_legal_hold(Bucket="dst-bucket", Key="deed.pdf")["LegalHold"]
    assert hold == {"Status": "ON"}
    # AND each bucket's configuration was read once, a small object's lock by one HEAD
    assert [(op, bucket) for op, bucket in rules.sent] == REQUESTS[size]


@SIZES
def test_a_legal_hold_is_kept_and_an_expired_retention_left_behind(
    s3: Any, copier_s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a source on legal hold whose retention has expired (S3 refuses a date in the past)
    buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    item = put(s3, "deed.pdf", size, **locked("GOVERNANCE", UNTIL - timedelta(days=60)), **HELD)
    # WHEN it is copied THEN its copy is on legal hold, with no retention
    copier.copy(spec(), item)
    assert lock_of(s3, "dst-bucket", "deed.pdf") == HELD


@SIZES
def test_a_source_bucket_without_object_lock_costs_no_request_per_object(
    s3: Any, copier_s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN three objects in a bucket without Object Lock (the destination has it)
    rules = buckets(s3, copier_s3, source_locked=False, destination_locked=True)
    items = [put(s3, f"clip-{n}.bin", size) for n in range(3)]
    # WHEN they are copied one after the other
    for item in items:
        copier.copy(spec(), item)
    # THEN each small one cost one CopyObject, once the job read the bucket's configuration;
    # a multipart copy reads the lock from the HEAD it makes anyway
    if size == SINGLE:
        assert rules.operations() == ["GetObjectLockConfiguration", *["CopyObject"] * 3]
    else:
        assert "GetObjectLockConfiguration" not in rules.operations()
        # the source's, the destination's, the copy's CRC
        assert rules.operations().count("HeadObject") == 9
    # AND no copy is locked
    assert [lock_of(s3, "dst-bucket", item.key) for item in items] == [{}, {}, {}]


@SIZES
def test_a_locked_source_fails_to_a_destination_without_object_lock_and_nothing_is_written(
    s3: Any, copier_s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a source under retention and legal hold, and a destination without Object Lock
    rules = buckets(s3, copier_s3, source_locked=True, destination_locked=False)
    item = put(s3, "deed.pdf", size, **locked("GOVERNANCE"), **HELD)
    # WHEN it is copied THEN it fails for good, saying what the lock is and what to change
    with pytest.raises(PermanentError) as raised:
        copier.copy(spec(), item)
    error = raised.value
    assert (type(error), error.code) == (PermanentError, "ObjectLockNotEnabled")
    assert error.message == (
        f"the source object is under Object Lock (GOVERNANCE until {UNTIL:%Y-%m-%dT%H:%M:%SZ},"
        " legal hold ON) and the destination bucket dst-bucket has no Object Lock enabled;"
        f" enable Object Lock on it, or send the job with {IGNORE} to copy without Object"
        " Lock settings"
    )
    # AND nothing was written, nor any upload started
    assert s3.list_objects_v2(Bucket="dst-bucket")["KeyCount"] == 0
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []
    assert not {"CopyObject", "CreateMultipartUpload"} & set(rules.operations())


@SIZES
def test_a_job_that_ignores_object_lock_copies_without_it(
    s3: Any, copier_s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a locked source, and destinations with Object Lock and without
    rules = buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    s3.create_bucket(Bucket="plain-bucket")
    item = put(s3, "deed.pdf", size, **locked("COMPLIANCE"), **HELD)
    job = spec(object_lock="ignore")
    plain = job.model_copy(update={"destination": Location(bucket="plain-bucket")})
    # WHEN a job that ignores Object Lock copies it to each
    assert copier.copy(job, item) == copier.copy(plain, item) == size
    # THEN neither copy is locked, and no configuration was read: a small object costs one
    # CopyObject
    assert lock_of(s3, "dst-bucket", "deed.pdf") == lock_of(s3, "plain-bucket", "deed.pdf") == {}
    if size == SINGLE:
        assert rules.operations() == ["CopyObject", "CopyObject"]
    else:
        assert "GetObjectLockConfiguration" not in rules.operations()


def test_each_buckets_configuration_is_read_once_per_job_by_copies_on_many_threads(
    s3: Any, copier_s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN eight small objects, half of them locked, in a bucket with Object Lock
    rules = buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    items = [
        put(s3, f"doc-{n}.txt", SINGLE, **(locked("GOVERNANCE") if n % 2 else {})) for n in range(8)
    ]
    # WHEN two jobs copy them, four at a time (the first answer is slow in coming)
    for job in (spec("job-1"), spec("job-2")):
        with ThreadPoolExecutor(4) as pool:
            assert sum(pool.map(lambda item, job=job: copier.copy(job, item), items)) == 8 * SINGLE
    # THEN each job read each bucket's configuration once
    reads = [bucket for op, bucket in rules.sent if op == "GetObjectLockConfiguration"]
    assert sorted(reads) == ["dst-bucket", "dst-bucket", "src-bucket", "src-bucket"]
    # AND the locked ones, and only they, are locked
    expected = [locked("GOVERNANCE") if n % 2 else {} for n in range(8)]
    assert [lock_of(s3, "dst-bucket", item.key) for item in items] == expected


def test_a_source_configuration_the_copier_may_not_read_fails_the_object_until_allowed(
    s3: Any, copier_s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a locked source whose bucket's configuration the copying role may not read
    rules = buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    rules.denied.add("src-bucket")
    item = put(s3, "deed.pdf", SINGLE, **locked("GOVERNANCE"))
    # WHEN it is copied THEN it fails as denied, naming the permission and the way around it
    with pytest.raises(AccessDeniedError) as raised:
        copier.copy(spec(), item)
    assert (raised.value.code, raised.value.message) == (
        "AccessDenied",
        "could not read the source bucket's Object Lock configuration (Access Denied); allow"
        " s3:GetBucketObjectLockConfiguration on arn:aws:s3:::src-bucket to the copier's task"
        f" role, or send the job with {IGNORE} to copy without Object Lock settings",
    )
    assert s3.list_objects_v2(Bucket="dst-bucket")["KeyCount"] == 0
    # AND once allowed, the next attempt of the same job reads it and copies the lock
    rules.denied.clear()
    copier.copy(spec(), item)
    assert lock_of(s3, "dst-bucket", "deed.pdf") == locked("GOVERNANCE")


def test_a_locked_source_written_again_since_listing_is_copied_with_its_current_lock(
    s3: Any, copier_s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a small source listed, then written again under another retention
    buckets(s3, copier_s3, source_locked=True, destination_locked=True)
    listed = put(s3, "deed.pdf", SINGLE, **locked("GOVERNANCE"))
    later = UNTIL + timedelta(days=1)
    current = put(s3, "deed.pdf", SINGLE, **locked("COMPLIANCE", later))
    # WHEN it is copied as listed THEN the current version is copied, with its own lock
    assert copier.copy(spec(), listed) == SINGLE
    assert lock_of(s3, "dst-bucket", "deed.pdf") == locked("COMPLIANCE", later)
    assert s3.head_object(Bucket="dst-bucket", Key="deed.pdf")["ETag"] == current.etag
