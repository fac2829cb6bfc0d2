"""Three S3 request conditions moto accepts but ignores, made to hold as S3 holds them.

The embedded stack and the component tests run on moto, and the tool's safety rests on both:

* ``x-amz-expected-bucket-owner`` (and ``x-amz-source-expected-bucket-owner`` on a copy): S3
  answers 403 Access Denied when the bucket belongs to another account, so a bucket name
  registered by someone else never receives or supplies data.
* ``If-None-Match: *`` on CopyObject: S3 answers 412 Precondition Failed when the key exists
  (moto honours it on PutObject and CompleteMultipartUpload only).
* The region a request is signed for: S3 carries out no request signed for another region than
  the bucket's, and answers 400 AuthorizationHeaderMalformed with the bucket's region (which
  botocore follows, unless told not to). A migration's deletions of its source rest on it
  (``S3Clients.pinned``), so it holds here for deletions (DeleteObject, DeleteObjects,
  DeleteBucket); other requests keep moto's lenience.

And one moto applies wrongly: it denies a request whenever a bucket policy statement's condition
does not hold, whatever the statement's effect, so the TLS-only policy of a bucket the tool
creates (``Deny`` when ``aws:SecureTransport`` is false) would deny every request. The embedded
stack's loopback endpoint stands for S3's TLS endpoint, so that statement never applies there.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_PATCHED = "_s3migrator_patched"


def _owner(bucket: str) -> str | None:
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    return found[1] if found else None


def _check_owner(expected: str | None, bucket: str | None) -> None:
    from moto.s3.exceptions import S3ClientError

    if expected and bucket:
        owner = _owner(bucket)
        if owner is not None and owner != expected:
            raise S3ClientError("AccessDenied", "Access Denied")


_SIGNED_FOR = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/s3/")


def _region(bucket: str) -> str | None:
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    if found is None:
        return None
    partition, account = found
    fake = s3_backends[account][partition].buckets.get(bucket)
    return fake.region_name if fake is not None else None


def _deletes(request: Any, full_url: str) -> bool:
    if request.method == "DELETE":
        return True
    query = parse_qs(urlsplit(full_url).query, keep_blank_values=True)
    return request.method == "POST" and "delete" in query


def _wrong_region(request: Any, full_url: str, bucket: str | None) -> Any:
    """S3's answer to a deletion signed for another region than the bucket's, or None."""
    signed = _SIGNED_FOR.search(request.headers.get("Authorization") or "")
    if not bucket or signed is None or not _deletes(request, full_url):
        return None
    region = _region(bucket)
    if region is None or region == signed.group(1):
        return None
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code>'
        f"<Message>The authorization header is malformed; the region '{signed.group(1)}' is"
        f" wrong; expecting '{region}'</Message><Region>{region}</Region></Error>"
    )
    return 400, {"x-amz-bucket-region": region, "content-type": "application/xml"}, body


def _copy_source_bucket(header: str) -> str:
    return unquote(header).lstrip("/").split("/", 1)[0]


def _checked(method: Callable[..., Any], *, keys: bool) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any, full_url: str) -> Any:
        from moto.s3.exceptions import PreconditionFailed

        headers = request.headers
        bucket = self.parse_bucket_name_from_url(request, full_url)
        _check_owner(headers.get("x-amz-expected-bucket-owner"), bucket)
        refused = _wrong_region(request, full_url, bucket)
        if refused is not None:
            return refused
        source = headers.get("x-amz-copy-source")
        if keys and source and request.method == "PUT":
            _check_owner(
                headers.get("x-amz-source-expected-bucket-owner"), _copy_source_bucket(source)
            )
            if headers.get("If-None-Match") == "*" and "partNumber" not in full_url:
                try:
                    exists = self.backend.get_object(bucket, self.parse_key_name()) is not None
                except Exception:  # a missing bucket: the copy itself says so
                    exists = False
                if exists:
                    raise PreconditionFailed("If-None-Match")
        return method(self, request, full_url)

    setattr(call, _PATCHED, True)
    return call


_TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


def _over_tls(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def get_permission(self: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy)
        statements = policy.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [st for st in statements if st.get("Condition") != _TLS_ONLY]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(
            action, resource
        )

    setattr(get_permission, _PATCHED, True)
    return get_permission


def enforce_s3_conditions() -> None:
    """Patch moto's S3 request handling (idempotent)."""
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    for name, keys in (("_bucket_response", False), ("_key_response", True)):
        method = getattr(S3Response, name)
        if not getattr(method, _PATCHED, False):
            setattr(S3Response, name, _checked(method, keys=keys))
    if not getattr(FakeBucket.get_permission, _PATCHED, False):
        FakeBucket.get_permission = _over_tls(FakeBucket.get_permission)  # type: ignore[method-assign]
