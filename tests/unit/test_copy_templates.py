"""What botocore sent for a shape of copies, learnt from two of them (copier.copy_templates)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

from copier import copy_templates
from copier.copy_templates import (
    UNKNOWN,
    Route,
    Template,
    Templates,
    shape_of,
    source_header,
    template_of,
)

S3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="s")
MODEL = S3.meta.service_model.operation_model("CopyObject")
ROUTE = Route("us-east-1", Credentials("a", "s"), "/etc/ssl/cert.pem")
SIGNED = {"auth_type": "v4", "signing": {"region": "us-east-1", "signing_name": "s3"}}


def sent(key: str, source: str, *, url: str = "", **headers: str) -> dict[str, Any]:
    """A request dict as botocore's before-call handlers see it."""
    return {
        "method": "PUT",
        "url": url or f"https://b.s3.us-east-1.amazonaws.com/{key}",
        "headers": {"x-amz-copy-source": source, "User-Agent": "agent/1", **headers},
        "body": b"",
        "query_string": {},
    }


def params(key: str, **more: Any) -> dict[str, Any]:
    return {"Bucket": "b", "Key": key, "CopySource": {"Bucket": "src", "Key": key}, **more}


def test_a_template_is_what_botocore_sent_but_the_objects_own() -> None:
    # GIVEN what botocore sent for a copy of a key that needs escaping
    key = "a folder/ü+%.txt"
    request = sent(
        "a%20folder/%C3%BC%2B%25.txt",
        source_header({"Bucket": "src", "Key": key}),
        **{"x-amz-storage-class": "STANDARD_IA", "x-amz-copy-source-if-match": '"e"'},
    )

    # WHEN its template is taken
    template = template_of(ROUTE, request, SIGNED, params(key, CopySourceIfMatch='"e"'), MODEL)

    # THEN it is the URL before the key's path, and the headers but the copy source's two
    assert template is not None
    assert template.prefix == "https://b.s3.us-east-1.amazonaws.com/"
    assert dict(template.headers) == {"x-amz-storage-class": "STANDARD_IA", "User-Agent": "agent/1"}


@pytest.mark.parametrize(
    ("request_dict", "context"),
    [
        (sent("k", "src/k"), {**SIGNED, "auth_type": "v4-s3express"}),
        (sent("k", "src/k"), {**SIGNED, "signing": {"region": "eu-west-1"}}),
        (sent("k", "src/other"), SIGNED),
        (sent("k", "src/k", url="https://b.s3.us-east-1.amazonaws.com/elsewhere"), SIGNED),
        (sent("k", "src/k", url="https://b.s3.us-east-1.amazonaws.com/k?x=1"), SIGNED),
        ({**sent("k", "src/k"), "body": b"data"}, SIGNED),
        ({**sent("k", "src/k"), "query_string": {"x": "1"}}, SIGNED),
        (sent("k", "src/k", **{"x-amz-copy-source-if-match": '"other"'}), SIGNED),
    ],
    ids=[
        "express",
        "other-region",
        "other-source",
        "other-key",
        "query-in-url",
        "body",
        "query",
        "other-etag",
    ],
)
def test_a_copy_not_sent_as_a_template_would_send_it_gives_none(
    request_dict: dict[str, Any], context: dict[str, Any]
) -> None:
    # WHEN a template is taken from a request the direct path would not send as botocore did
    template = template_of(
        ROUTE,
        request_dict,
        context,
        params("k", CopySource="src/k", CopySourceIfMatch='"e"'),
        MODEL,
    )

    # THEN there is none
    assert template is None


def test_shapes_differ_in_any_value_or_type_but_not_in_the_objects_own() -> None:
    # GIVEN copies of two keys, and copies that differ in a value or only in its type
    one = shape_of(S3, params("one", CopySourceIfMatch='"1"'))
    two = shape_of(S3, params("two", CopySourceIfMatch='"2"'))
    other_class = shape_of(S3, params("one", StorageClass="GLACIER"))
    as_int = shape_of(S3, params("one", BucketKeyEnabled=1))
    as_bool = shape_of(S3, params("one", BucketKeyEnabled=True))
    dated = shape_of(S3, params("one", ObjectLockRetainUntilDate=datetime(2030, 1, 1, tzinfo=UTC)))

    # THEN the keys share a shape, the others do not, and a list value has none
    assert one == two
    assert len({one, other_class, as_int, as_bool, dated}) == 5
    assert shape_of(S3, params("one", Grants=["a"])) is None


def test_a_shape_is_templated_once_two_copies_agree() -> None:
    # GIVEN the templates, and what two copies of a shape gave
    templates = Templates()
    first = Template("https://b/", (("User-Agent", "a/1"), ("x-amz-acl", "private")), ROUTE, MODEL)
    second = Template("https://b/", (("User-Agent", "a/2"), ("x-amz-acl", "private")), ROUTE, MODEL)

    # WHEN the first is learnt, then the second (a User-Agent apart)
    templates.learn("shape", first)
    learning = templates.of("shape")
    templates.learn("shape", second)

    # THEN the shape is being learnt after one, and templated after two
    assert learning is UNKNOWN
    assert templates.of("shape") == second


@pytest.mark.parametrize(
    "second",
    [
        Template("https://other/", (("User-Agent", "a/1"),), ROUTE, MODEL),
        Template("https://b/", (("User-Agent", "a/1"), ("x-amz-acl", "public-read")), ROUTE, MODEL),
        None,
    ],
    ids=["other-prefix", "other-header", "not-templatable"],
)
def test_copies_that_disagree_leave_the_shape_to_botocore(second: Template | None) -> None:
    # GIVEN a first copy's template
    templates = Templates()
    templates.learn("shape", Template("https://b/", (("User-Agent", "a/1"),), ROUTE, MODEL))

    # WHEN a second copy of the shape gives another, or none
    templates.learn("shape", second)

    # THEN botocore sends the shape for good
    assert templates.of("shape") is None


def test_shapes_past_the_limit_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN room for two shapes, and shapes seen once each (a value of each object's own)
    monkeypatch.setattr(copy_templates, "MAX_SHAPES", 2)
    templates = Templates()
    template = Template("https://b/", (), ROUTE, MODEL)

    # WHEN a third shape is seen
    for shape in ("one", "two", "three"):
        templates.learn(shape, template)

    # THEN the first two are forgotten, and the third is being learnt
    templates.learn("one", template)
    assert templates.of("one") is UNKNOWN
    templates.learn("three", template)
    assert templates.of("three") == template
