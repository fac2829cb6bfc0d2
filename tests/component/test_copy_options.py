"""A job's copy options (``JobOptions``) on every copy, one CopyObject or a multipart copy: the
storage class it is written in, the checksum S3 stores with it, ``RequestPayer`` on each read of
a requester-pays source, and the source's ACL grants.

Moto lacks the S3 rules these options are about: it ignores requester pays, takes ACLs on a
BucketOwnerEnforced bucket, gives UploadPartCopy no part checksum and completes a checksummed
upload without them. ``S3Rules`` adds those rules to the copier's client (botocore's events:
moto never sees a refused request) and records each request. Moto reads back one grantee per
permission only: the sources here grant each permission to one grantee.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from copier.objects import ObjectCopier
from copier.properties import grant_arguments
from s3migrator.aws import Aws
from s3migrator.aws_errors import translate
from s3migrator.errors import AccessDeniedError, PermanentError
from s3migrator.models import CopySpec, JobOptions, Location, Overwrite
from s3migrator.sessions import s3_clients
from s3migrator.settings import GiB, MiB, Settings
from s3migrator.work import WorkItem

OWN_ACCOUNT = "123456789012"
SINGLE, MULTIPART = 1024, 11 * MiB  # one CopyObject; three parts of at most 5 MiB
SIZES = pytest.mark.parametrize("size", [SINGLE, MULTIPART], ids=["single-part", "multipart"])
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
FRIEND = "f" * 64  # the canonical user id of another account
PAID, UNPAID = "requester", None
WATCHED = ("x-amz-request-payer", "x-amz-checksum-", "x-amz-grant-", "x-amz-storage-class")
GIVEN = "test_parameters"  # where a request's parameters are kept in its context
SOURCE_READS = {"HeadObject", "GetObject", "GetObjectTagging", "GetObjectAcl"}
# A tagged source's multipart copy, ACL too, under "never": who pays for each request.
MULTIPART_PAID = [
    ("HeadObject", PAID),
    ("GetObjectTagging", PAID),
    ("GetObjectAcl", PAID),
    ("HeadObject", UNPAID),  # the destination's
    ("CreateMultipartUpload", UNPAID),
    *[("UploadPartCopy", PAID)] * 3,
    ("CompleteMultipartUpload", UNPAID),
    ("HeadObject", UNPAID),  # the copy's CRC (moto's completion does not answer it)
]
ACLS_DISABLED = (
    "the destination bucket's Object Ownership is BucketOwnerEnforced (ACLs disabled); copy_acl"
    " needs ACLs enabled there (Object Ownership BucketOwnerPreferred or ObjectWriter), or send"
    " the job without copy_acl (The bucket does not allow ACLs)"
)


def spec(overwrite: Overwrite = Overwrite.NEVER, **options: Any) -> CopySpec:
    """A job with these options, in 5 MiB parts from 5 MiB unless they say (Object Lock, and
    the requests it costs, are test_object_lock.py's)."""
    return CopySpec(
        job_id="job-1",
        source=Location(bucket="src-bucket", account_id=OWN_ACCOUNT),
        destination=Location(bucket="dst-bucket", account_id=OWN_ACCOUNT),
        options=JobOptions(
            **{"multipart_threshold_bytes": 5 * MiB, "part_size_bytes": 5 * MiB}
            | {"object_lock": "ignore", **options}
        ),
        overwrite=overwrite,
    )


def _refused(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """An error answer, as botocore would parse S3's."""
    error = {"Error": {"Code": code, "Message": message}}
    answer = {**error, "ResponseMetadata": {"HTTPStatusCode": status}}
    return SimpleNamespace(status_code=status), answer


def _keep_parameters(params: dict[str, Any], context: Any, **_: Any) -> None:
    context[GIVEN] = dict(params)


def _copy_source(given: dict[str, Any]) -> list[str]:
    return unquote(given.get("CopySource", "")).lstrip("/").split("/", 1)


@dataclass
class S3Rules:
    """S3's rules moto lacks, on one client. ``sent``: each request's operation and headers
    that options set (refused ones too); ``completed``: each completion's part checksums."""

    requester_pays: set[str] = field(default_factory=set)
    acls_disabled: set[str] = field(default_factory=set)
    sources: dict[str, bytes] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    completed: list[list[str | None]] = field(default_factory=list)
    _algorithms: dict[str, str] = field(default_factory=dict)

    def install(self, s3: Any) -> S3Rules:
        s3.meta.events.register("before-parameter-build.s3", _keep_parameters)
        s3.meta.events.register("before-call.s3", self._before)
        s3.meta.events.register("after-call.s3.CreateMultipartUpload", self._created)
        s3.meta.events.register("after-call.s3.UploadPartCopy", self._part_copied)
        return self

    def payers(self) -> list[tuple[str, str | None]]:
        return [(op, headers.get("x-amz-request-payer")) for op, headers in self.sent]

    def _before(self, model: Any, params: dict[str, Any], context: Any, **_: Any) -> Any:
        operation, headers, given = model.name, params["headers"], context[GIVEN]
        watched = {k: str(v) for k, v in headers.items() if k.startswith(WATCHED)}
        self.sent.append((operation, watched))
        read = _copy_source(given)[0] or (given["Bucket"] if operation in SOURCE_READS else "")
        if read in self.requester_pays and headers.get("x-amz-request-payer") != PAID:
            return _refused(403, "AccessDenied", "Access Denied")
        granted = any(name.startswith("x-amz-grant-") for name in headers)
        if granted and given.get("Bucket") in self.acls_disabled:
            return _refused(400, "AccessControlListNotSupported", "The bucket does not allow ACLs")
        algorithm = self._algorithms.get(given.get("UploadId", ""))
        if operation == "CompleteMultipartUpload" and algorithm:
            parts = given["MultipartUpload"]["Parts"]
            self.completed.append([part.get(f"Checksum{algorithm}") for part in parts])
            if None in self.completed[-1]:
                return _refused(400, "InvalidRequest", f"The upload was created with {algorithm}")
        return None

    def _created(self, parsed: dict[str, Any], context: Any, **_: Any) -> None:
        if "ChecksumAlgorithm" in context[GIVEN] and "UploadId" in parsed:
            self._algorithms[parsed["UploadId"]] = context[GIVEN]["ChecksumAlgorithm"]

    def _part_copied(self, parsed: dict[str, Any], context: Any, **_: Any) -> None:
        """S3 answers a part copied into a checksummed upload with the part's checksum."""
        given = context[GIVEN]
        algorithm = self._algorithms.get(given["UploadId"])
        if algorithm:
            first, last = given["CopySourceRange"].removeprefix("bytes=").split("-")
            body = self.sources[_copy_source(given)[1]][int(first) : int(last) + 1]
            parsed["CopyPartResult"][f"Checksum{algorithm}"] = part_digest(algorithm, body)


def digest(algorithm: str, body: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm.lower(), body).digest()).decode()


def part_digest(algorithm: str, body: bytes) -> str:
    """Python has no CRC64NVME: a stand-in value for its parts (moto checks no part checksum)."""
    return digest(algorithm if algorithm in ("SHA1", "SHA256") else "SHA256", body)


@pytest.fixture
def copier(aws: Aws, s3: Any) -> Iterator[ObjectCopier]:
    """An ObjectCopier as ``copier.process`` wires it; the job's options set the threshold."""
    with ThreadPoolExecutor(2) as parts:
        yield ObjectCopier(s3_clients(aws, Settings(), default=s3), parts, 5 * GiB - MiB, 256 * MiB)


def source(s3: Any, size: int, dst: dict[str, Any] | None = None, **put: Any) -> Any:
    """``clip.bin`` of ``size`` random bytes in the source, and rules for the copier's client
    (``dst``: how the destination is created)."""
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="dst-bucket", **(dst or {}))
    body = os.urandom(size)
    etag = s3.put_object(Bucket="src-bucket", Key="clip.bin", Body=body, **put)["ETag"]
    item = WorkItem(key="clip.bin", size=size, etag=etag, storage_class=put.get("StorageClass"))
    return S3Rules(sources={"clip.bin": body}).install(s3), item


def requester_pays_source(s3: Any, size: int) -> tuple[S3Rules, WorkItem]:
    rules, item = source(s3, size, Tagging="project=apollo")
    payment = {"Payer": "Requester"}
    s3.put_bucket_request_payment(Bucket="src-bucket", RequestPaymentConfiguration=payment)
    rules.requester_pays.add("src-bucket")  # moto ignores the setting
    rules.sent.clear()
    return rules, item


def shared_source(s3: Any, size: int, **dst: Any) -> tuple[S3Rules, WorkItem, str]:
    """A source its owner shared: everyone may read it, a friend read and change its ACL."""
    rules, item = source(s3, size, dst)
    where = {"Bucket": "src-bucket", "Key": "clip.bin"}
    owner = s3.get_object_acl(**where)["Owner"]["ID"]
    friend = f'id="{FRIEND}"'
    acl = {"GrantRead": f'uri="{ALL_USERS}"', "GrantReadACP": friend, "GrantWriteACP": friend}
    s3.put_object_acl(**where, GrantFullControl=f'id="{owner}"', **acl)
    rules.sent.clear()
    return rules, item, owner


@SIZES
def test_the_jobs_storage_class_replaces_the_sources(
    s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a STANDARD_IA source and a job that writes GLACIER_IR
    _, item = source(s3, size, StorageClass="STANDARD_IA")
    # WHEN it is copied THEN the copy is GLACIER_IR
    copier.copy(spec(storage_class="GLACIER_IR"), item)
    assert s3.head_object(Bucket="dst-bucket", Key="clip.bin")["StorageClass"] == "GLACIER_IR"


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1"])  # the source has botocore's CRC32
def test_a_single_part_copy_is_stored_with_the_jobs_checksum(
    s3: Any, copier: ObjectCopier, algorithm: str
) -> None:
    # GIVEN a small source and a job that asks for a checksum
    rules, item = source(s3, SINGLE)
    # WHEN it is copied (one CopyObject)
    copier.copy(spec(checksum_algorithm=algorithm), item)
    # THEN S3 stores the checksum of its bytes in that algorithm with the copy
    head = s3.head_object(Bucket="dst-bucket", Key="clip.bin", ChecksumMode="ENABLED")
    checksums = {key: value for key, value in head.items() if key.startswith("Checksum")}
    assert checksums == {f"Checksum{algorithm}": digest(algorithm, rules.sources["clip.bin"])}


@pytest.mark.parametrize(
    ("algorithm", "created", "kind"),
    [
        ("SHA256", {"x-amz-checksum-algorithm": "SHA256"}, "COMPOSITE"),
        # S3 has no composite form of CRC64NVME
        (
            "CRC64NVME",
            {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "FULL_OBJECT"},
            "FULL_OBJECT",
        ),
    ],
)
def test_a_multipart_copy_is_completed_with_each_parts_checksum(
    s3: Any, copier: ObjectCopier, algorithm: str, created: dict[str, str], kind: str
) -> None:
    # GIVEN an 11 MiB source and a job that asks for a checksum
    rules, item = source(s3, MULTIPART)
    # WHEN it is copied in parts
    copier.copy(spec(checksum_algorithm=algorithm), item)
    # THEN the upload was created with it and completed with each part's checksum as S3 gave
    # it (S3 refuses the completion otherwise), and the copy has a checksum of that kind
    assert dict(rules.sent)["CreateMultipartUpload"] == created
    body = rules.sources["clip.bin"]
    ranges = [(0, 5 * MiB), (5 * MiB, 10 * MiB), (10 * MiB, MULTIPART)]
    assert rules.completed == [[part_digest(algorithm, body[first:end]) for first, end in ranges]]
    checksum = s3.get_object_attributes(
        Bucket="dst-bucket", Key="clip.bin", ObjectAttributes=["Checksum"]
    )["Checksum"]
    expected = ([f"Checksum{algorithm}", "ChecksumType"], kind)
    assert (sorted(checksum), checksum["ChecksumType"]) == expected


@pytest.mark.parametrize(
    ("size", "requests"),
    [(SINGLE, [("GetObjectAcl", PAID), ("CopyObject", PAID)]), (MULTIPART, MULTIPART_PAID)],
    ids=["single-part", "multipart"],
)
def test_every_read_of_a_requester_pays_source_says_the_job_pays(
    s3: Any, copier: ObjectCopier, size: int, requests: list[tuple[str, str | None]]
) -> None:
    # GIVEN a tagged source in a requester-pays bucket (S3 answers 403 to a read of it that
    # does not say the requester pays)
    rules, item = requester_pays_source(s3, size)
    # WHEN it is copied, ACL too, by a job that pays
    assert copier.copy(spec(requester_pays=True, copy_acl=True), item) == size
    # THEN each request that read the source, and only those, said so, and the copy is whole
    assert rules.payers() == requests
    copy = s3.get_object(Bucket="dst-bucket", Key="clip.bin")["Body"].read()
    assert copy == rules.sources["clip.bin"]


@SIZES
def test_a_job_that_does_not_pay_cannot_read_a_requester_pays_source(
    s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a source in a requester-pays bucket
    _, item = requester_pays_source(s3, size)
    # WHEN a job that does not pay copies it THEN S3 refuses, and the object fails as denied
    with pytest.raises(ClientError) as raised:
        copier.copy(spec(), item)
    error = translate(raised.value)
    assert (type(error), error.code, error.http_status) == (AccessDeniedError, "AccessDenied", 403)


def test_the_source_read_again_after_it_changed_says_the_job_pays(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a large requester-pays source written again since it was listed
    rules, item = requester_pays_source(s3, MULTIPART)
    listed = item.model_copy(update={"etag": '"' + "0" * 32 + '"'})
    # WHEN it is copied, ACL too, as listed
    assert copier.copy(spec(requester_pays=True, copy_acl=True), listed) == MULTIPART
    # THEN its current version is looked at and copied, each read of the source paid for
    assert rules.payers() == [
        ("HeadObject", PAID),  # refused: the listed ETag is gone
        ("HeadObject", UNPAID),  # no destination object: the source's condition failed
        ("HeadObject", PAID),  # the current version
        *MULTIPART_PAID,
    ]


def test_a_copy_recognised_by_its_bytes_reads_the_source_as_the_job_pays(
    s3: Any, copier: ObjectCopier
) -> None:
    # GIVEN a requester-pays source copied before in parts (its copy's ETag is not its own)
    rules, item = requester_pays_source(s3, 5 * MiB + 7)
    copier.copy(spec(requester_pays=True), item)
    rules.sent.clear()
    # WHEN a batch delivered again copies it in one request under "never"
    job = spec(requester_pays=True, multipart_threshold_bytes=64 * MiB)
    assert copier.copy(job, item, again=True) == item.size
    # THEN it counts as copied once both sides' bytes are compared, the source's read as paid
    assert rules.payers() == [
        ("CopyObject", PAID),  # refused: the key exists
        ("HeadObject", UNPAID),
        ("HeadObject", PAID),
        ("GetObject", PAID),
        ("GetObject", UNPAID),
    ]


@SIZES
def test_a_copy_is_given_the_sources_grants_but_its_owners(
    s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a source shared with everyone and a friend
    _, item, owner = shared_source(s3, size)
    # WHEN a job that copies ACLs copies it
    copier.copy(spec(copy_acl=True), item)
    # THEN the copy is shared alike; the source's owner has no grant on it
    grants = s3.get_object_acl(Bucket="dst-bucket", Key="clip.bin")["Grants"]
    granted = sorted(
        (g["Permission"], g["Grantee"].get("URI") or g["Grantee"]["ID"]) for g in grants
    )
    assert granted == [("READ", ALL_USERS), ("READ_ACP", FRIEND), ("WRITE_ACP", FRIEND)]
    assert owner not in str(grants)


@SIZES
def test_grants_refused_by_a_bucket_owner_enforced_destination_fail_the_object(
    s3: Any, copier: ObjectCopier, size: int
) -> None:
    # GIVEN a shared source, and a destination whose Object Ownership is BucketOwnerEnforced
    rules, item, _ = shared_source(s3, size, ObjectOwnership="BucketOwnerEnforced")
    controls = s3.get_bucket_ownership_controls(Bucket="dst-bucket")["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules.acls_disabled.add("dst-bucket")  # moto keeps the setting but takes ACLs
    # WHEN a job that copies ACLs copies it
    with pytest.raises(ClientError) as raised:
        copier.copy(spec(copy_acl=True), item)
    # THEN the object fails for good, saying why and what to change; nothing is left behind
    error = translate(raised.value)
    refused = (PermanentError, "AccessControlListNotSupported", 400, ACLS_DISABLED)
    assert (type(error), error.code, error.http_status, error.message) == refused
    assert s3.list_objects_v2(Bucket="dst-bucket")["KeyCount"] == 0
    assert s3.list_multipart_uploads(Bucket="dst-bucket").get("Uploads", []) == []


@pytest.mark.parametrize(
    ("options", "shared", "requests"),
    [
        ({}, True, ["CopyObject"]),
        ({"copy_acl": True}, True, ["GetObjectAcl", "CopyObject"]),
        ({"copy_acl": True}, False, ["GetObjectAcl", "CopyObject"]),
    ],
    ids=["default", "copy_acl", "copy_acl-private-source-to-bucket-owner-enforced"],
)
def test_a_small_copy_costs_one_request_and_copy_acl_one_more(
    s3: Any, copier: ObjectCopier, options: dict[str, Any], shared: bool, requests: list[str]
) -> None:
    # GIVEN a small source, shared, or private (its owner's its only grant) and then copied to
    # a destination that refuses ACLs (its copy is given no grant to refuse)
    if shared:
        rules, item, _ = shared_source(s3, SINGLE)
    else:
        rules, item = source(s3, SINGLE, {"ObjectOwnership": "BucketOwnerEnforced"})
        rules.acls_disabled.add("dst-bucket")
    # WHEN it is copied THEN one CopyObject is all it costs; reading its ACL is one more
    assert copier.copy(spec(overwrite=Overwrite.ALWAYS, **options), item) == SINGLE
    assert [operation for operation, _ in rules.sent] == requests


def test_grants_name_each_grantee_as_s3s_grant_headers_do() -> None:
    # GIVEN GetObjectAcl's grants of every kind of grantee, the owner's and a WRITE among them
    acl = [
        ("FULL_CONTROL", "CanonicalUser", "ID", "owner"),
        ("FULL_CONTROL", "CanonicalUser", "ID", FRIEND),
        ("READ", "Group", "URI", ALL_USERS),
        ("READ", "AmazonCustomerByEmail", "EmailAddress", "a@example.com"),
        ("WRITE_ACP", "CanonicalUser", "ID", FRIEND),
        ("WRITE", "Group", "URI", ALL_USERS),
    ]
    grants = [{"Grantee": {"Type": t, k: v}, "Permission": p} for p, t, k, v in acl]
    # WHEN they are made arguments of a write THEN each permission names its grantees, but
    # the owner's grant and WRITE (which an object has no use for)
    assert grant_arguments("owner", grants) == {
        "GrantFullControl": f'id="{FRIEND}"',
        "GrantRead": f'uri="{ALL_USERS}", emailAddress="a@example.com"',
        "GrantWriteACP": f'id="{FRIEND}"',
    }
