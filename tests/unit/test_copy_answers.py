"""A CopyObject answer read in one pass (copier.copy_answers) is what botocore's parser makes of
it, or None, for botocore's parser to read."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.parsers import RestXMLParser

from copier.copy_answers import CopyAnswers
from s3migrator.aws import fast_timestamp

MODEL = boto3.client("s3", region_name="us-east-1").meta.service_model.operation_model("CopyObject")
READER = CopyAnswers.of(MODEL)
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
NAMESPACE = b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
PLAIN = (
    b"<CopyObjectResult><LastModified>2026-12-07T12:00:00.000Z</LastModified>"
    b"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag></CopyObjectResult>"
)
HEADERS = {"x-amz-request-id": "R1", "x-amz-id-2": "H2"}


def botocores(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert MODEL.output_shape is not None
    parsed: dict[str, Any] = RestXMLParser(timestamp_parser=fast_timestamp).parse(
        {"status_code": status, "headers": headers, "body": body}, MODEL.output_shape
    )
    return parsed


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (HEADERS, PLAIN),
        (HEADERS, DECLARATION + PLAIN.replace(b"Result>", b"Result" + NAMESPACE + b">", 1)),
        (
            {
                **HEADERS,
                "x-amz-version-id": "v1",
                "x-amz-copy-source-version-id": "s1",
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:k",
                "x-amz-server-side-encryption-bucket-key-enabled": "true",
                "x-amz-request-charged": "requester",
            },
            b"<CopyObjectResult>\n  <ETag>&quot;e&amp;t&lt;a&gt;g&apos;&quot;</ETag>\n"
            b"  <LastModified>2026-12-07T12:00:00Z</LastModified>\n"
            b"  <ChecksumCRC32>AAAAAA==</ChecksumCRC32>\n"
            b"  <ChecksumType>FULL_OBJECT</ChecksumType>\n"
            b"</CopyObjectResult>\n",
        ),
        ({"x-amzn-requestid": "N1"}, b"<CopyObjectResult><ETag></ETag></CopyObjectResult>"),
        (
            {**HEADERS, "x-amz-server-side-encryption-bucket-key-enabled": "false"},
            "<CopyObjectResult><ETag>&quot;é&quot;</ETag></CopyObjectResult>".encode(),
        ),
    ],
    ids=["plain", "declared-with-namespace", "every-header-and-checksum", "empty-etag", "utf-8"],
)
def test_a_plain_success_reads_as_botocore_reads_it(headers: dict[str, str], body: bytes) -> None:
    # GIVEN the reader made from botocore's model of CopyObject
    assert READER is not None

    # WHEN a success is read by it and by botocore's parser
    ours = READER.read(200, headers, body)

    # THEN both make the same
    assert ours is not None
    assert ours == botocores(200, headers, body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n  ",
        b"<CopyObjectResult><ETag>&quot;ab",
        b"<Error><Code>InternalError</Code><Message>try again</Message></Error>",
        b"<CopyObjectResult><ETag>a</ETag><ETag>b</ETag></CopyObjectResult>",
        b"<CopyObjectResult><Unknown>a</Unknown></CopyObjectResult>",
        b"<CopyObjectResult><ETag>a</LastModified></CopyObjectResult>",
        b"<CopyObjectResult><ETag><![CDATA[a]]></ETag></CopyObjectResult>",
        b"<CopyObjectResult><!-- c --><ETag>a</ETag></CopyObjectResult>",
        b"<CopyObjectResult><ETag>&#34;a&#34;</ETag></CopyObjectResult>",
        b"<CopyObjectResult><ETag>a & b</ETag></CopyObjectResult>",
        b'<CopyObjectResult><ETag a="1">a</ETag></CopyObjectResult>',
        b"<CopyObjectResult><ETag>a\r\nb</ETag></CopyObjectResult>",
        b"  " + DECLARATION + PLAIN,
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + PLAIN,
        b"\xff" + PLAIN,
        b"<CopyObjectResult>\x1c<ETag>a</ETag></CopyObjectResult>",
        "<CopyObjectResult>\xa0<ETag>a</ETag></CopyObjectResult>".encode(),
        b"<CopyObjectResult><ETag>a\x01b</ETag></CopyObjectResult>",
    ],
    ids=[
        "empty",
        "whitespace",
        "cut-short",
        "error-in-200",
        "repeated",
        "unknown-field",
        "mismatched",
        "cdata",
        "comment",
        "numeric-entity",
        "bare-ampersand",
        "attribute",
        "carriage-return",
        "space-before-declaration",
        "other-encoding",
        "not-utf-8",
        "separator-between-fields",
        "no-break-space-between-fields",
        "control-in-text",
    ],
)
def test_what_is_not_a_plain_success_is_left_to_botocore(body: bytes) -> None:
    # GIVEN the reader
    assert READER is not None

    # WHEN an answer not of a plain success's form is read
    ours = READER.read(200, HEADERS, body)

    # THEN it is not read: botocore's parser reads it
    assert ours is None


def test_refusals_are_left_to_botocore() -> None:
    # GIVEN the reader, and a refusal
    assert READER is not None
    body = b"<Error><Code>PreconditionFailed</Code><Message>no</Message></Error>"

    # WHEN it is read
    ours = READER.read(412, HEADERS, body)

    # THEN botocore's parser reads it
    assert ours is None
    assert botocores(412, HEADERS, body)["Error"]["Code"] == "PreconditionFailed"


def test_an_output_with_members_it_cannot_convert_has_no_reader() -> None:
    # GIVEN operations whose output is not a flat body of scalars and header scalars
    service = boto3.client("s3", region_name="us-east-1").meta.service_model

    # WHEN readers are asked for
    # THEN there are none: GetObject's body streams, ListObjectsV2's has lists
    assert CopyAnswers.of(service.operation_model("GetObject")) is None
    assert CopyAnswers.of(service.operation_model("ListObjectsV2")) is None
