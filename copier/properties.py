"""What a copy carries besides its bytes, and what each request must say to read the source.

A copy is the source's only where the request says so: CopyObject keeps headers, metadata and
tags by itself but writes STANDARD unless given a class, and a multipart copy keeps nothing
(UploadPartCopy moves bytes only), so CreateMultipartUpload must be given it all. The job's
options (``JobOptions``) override or add to that: one storage class for every copy, the checksum
S3 stores with it, the source's ACL grants, and ``RequestPayer`` on every read of a
requester-pays source (S3 refuses those reads without it). Both ways of copying build their
requests from these helpers, so a single-part and a multipart copy of one object are alike.

An option left unset adds nothing to any request: a small object still costs one CopyObject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from s3migrator.work import WorkItem, kept_class

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from copier.parts import PartRange
    from s3migrator.checksums import WholeChecksum
    from s3migrator.models import CopySpec, Location

# Object properties a multipart upload must be given explicitly (CopyObject carries them itself).
# The source's checksum is carried by ``copier.checksums``; Object Lock settings, which neither way
# of copying carries by itself, are given to both by ``copier.object_lock``.
_CARRIED_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentDisposition": "ContentDisposition",
    "ContentLanguage": "ContentLanguage",
    "CacheControl": "CacheControl",
    "Expires": "Expires",
    "Metadata": "Metadata",
}
# ACL permissions an object's copy can be given (WRITE means nothing on an object, and neither
# CopyObject nor CreateMultipartUpload takes it).
_GRANT_ARGUMENTS = {
    "READ": "GrantRead",
    "READ_ACP": "GrantReadACP",
    "WRITE_ACP": "GrantWriteACP",
    "FULL_CONTROL": "GrantFullControl",
}
# GetObjectAcl names a grantee by its type and one field; a grant header by form="value".
_GRANTEE_FORMS = {
    "CanonicalUser": ("id", "ID"),
    "Group": ("uri", "URI"),
    "AmazonCustomerByEmail": ("emailAddress", "EmailAddress"),
}
# CRC64NVME has no composite form for multipart uploads: S3 takes it only as a checksum of the
# whole object.
_FULL_OBJECT_ONLY = frozenset({"CRC64NVME"})


def storage_class(spec: CopySpec, item: WorkItem) -> dict[str, Any]:
    """The class for CopyObject: the job's, else the listed one (without either, S3 writes
    STANDARD; a multipart copy is given its class with the rest, see ``carried_properties``)."""
    chosen = spec.options.storage_class or item.storage_class
    return {"StorageClass": chosen} if chosen else {}


def carried_properties(
    s3: S3Client, spec: CopySpec, item: WorkItem, head: dict[str, Any]
) -> dict[str, Any]:
    """What CreateMultipartUpload must be given for the copy to be the source's (UploadPartCopy
    carries none of it, where CopyObject carries it itself): headers, user metadata, storage
    class (the job's, when it names one) and tags (read only when the source has some)."""
    carried: dict[str, Any] = {
        arg: head[field] for field, arg in _CARRIED_HEADERS.items() if head.get(field)
    }
    chosen = spec.options.storage_class or kept_class(head.get("StorageClass"))
    if chosen:
        carried["StorageClass"] = chosen
    if head.get("TagCount"):
        tags = s3.get_object_tagging(
            Bucket=spec.source.bucket,
            Key=item.key,
            **version_of(item),
            **spec.source.expected_owner(),
            **spec.options.source_payer(),
        )["TagSet"]
        carried["Tagging"] = urlencode([(tag["Key"], tag["Value"]) for tag in tags])
    return carried


def encryption(destination: Location) -> dict[str, Any]:
    """SSE-KMS with the job's key when it names one; otherwise the bucket's default applies."""
    if destination.kms_key_id is None:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": destination.kms_key_id}


def source_owner(spec: CopySpec) -> dict[str, Any]:
    """``ExpectedSourceBucketOwner`` for a copy request (nothing when the job names none)."""
    owner = spec.source.owner
    return {"ExpectedSourceBucketOwner": owner} if owner else {}


def copy_source(spec: CopySpec, item: WorkItem) -> Any:
    """The CopySource of a copy: the listed object, or the listed version of it."""
    return {"Bucket": spec.source.bucket, "Key": item.key, **version_of(item)}


def version_of(item: WorkItem) -> dict[str, Any]:
    """The source version a request reads, for a job copying every version."""
    return {"VersionId": item.version_id} if item.version_id is not None else {}


def checksum(spec: CopySpec) -> dict[str, Any]:
    """The checksum S3 computes and stores with the copy, for CopyObject."""
    algorithm = spec.options.checksum_algorithm
    return {"ChecksumAlgorithm": algorithm} if algorithm else {}


def upload_checksum(spec: CopySpec, checked: WholeChecksum | None = None) -> dict[str, Any]:
    """The checksum for CreateMultipartUpload: the job's algorithm, else the source's whole
    object one (``checked``), which the copy then keeps and is completed against. S3 then
    checksums each part it copies, and the completion must name every part's
    (``completed_part``)."""
    algorithm = spec.options.checksum_algorithm or (checked.algorithm if checked else None)
    if not algorithm:
        return {}
    if algorithm in _FULL_OBJECT_ONLY or checked is not None:
        return {"ChecksumAlgorithm": algorithm, "ChecksumType": "FULL_OBJECT"}
    return {"ChecksumAlgorithm": algorithm}


def completed_part(
    algorithm: str | None, number: int, copied: Mapping[str, Any]
) -> CompletedPartTypeDef:
    """A copied part as CompleteMultipartUpload must be given it back: with its checksum when
    the upload was created with an ``algorithm`` (S3 refuses to complete it without each
    part's)."""
    part: dict[str, Any] = {"PartNumber": number, "ETag": copied["ETag"]}
    field = f"Checksum{algorithm}"
    if algorithm and copied.get(field):
        part[field] = copied[field]
    return cast("CompletedPartTypeDef", part)


def grants(s3: S3Client, spec: CopySpec, key: str) -> dict[str, Any]:
    """The source object's ACL grants as Grant* arguments for the write, when the job copies
    ACLs (nothing is read otherwise). Grants to the source object's owner are left out: the
    destination's owner owns the copy. A destination whose Object Ownership is
    BucketOwnerEnforced refuses any of them (``AccessControlListNotSupported``)."""
    if not spec.options.copy_acl:
        return {}
    acl = s3.get_object_acl(
        Bucket=spec.source.bucket,
        Key=key,
        **spec.source.expected_owner(),
        **spec.options.source_payer(),
    )
    return grant_arguments(acl.get("Owner", {}).get("ID"), acl.get("Grants", []))


def grant_arguments(owner_id: str | None, acl_grants: list[Any]) -> dict[str, str]:
    """``{"GrantRead": 'uri="...", id="..."', ...}`` from GetObjectAcl's grants."""
    named: dict[str, list[str]] = {}
    for grant in acl_grants:
        grantee = grant.get("Grantee", {})
        argument = _GRANT_ARGUMENTS.get(grant.get("Permission", ""))
        form = _GRANTEE_FORMS.get(grantee.get("Type", ""))
        if argument is None or form is None or not grantee.get(form[1]):
            continue
        if owner_id and grantee.get("ID") == owner_id:
            continue
        name = f'{form[0]}="{grantee[form[1]]}"'
        if name not in named.setdefault(argument, []):
            named[argument].append(name)
    return {argument: ", ".join(names) for argument, names in named.items()}


def part_algorithm(spec: CopySpec, checked: WholeChecksum | None) -> str | None:
    """The checksum each copied part carries back to the completion, if the upload has one."""
    return spec.options.checksum_algorithm or (checked.algorithm if checked else None)


def part_request(spec: CopySpec, item: WorkItem, upload_id: str, part: PartRange) -> dict[str, Any]:
    """UploadPartCopy's arguments for one part: the listed ETag, and the expected owners."""
    return {
        "Bucket": spec.destination.bucket,
        "Key": spec.destination_key(item.key),
        "UploadId": upload_id,
        "PartNumber": part.number,
        "CopySource": copy_source(spec, item),
        "CopySourceRange": part.header,
        "CopySourceIfMatch": item.etag,
        **spec.destination.expected_owner(),
        **source_owner(spec),
        **spec.options.source_payer(),
    }
