"""The upload's conditional record written, its answer lost (a read timeout; the write is tried
again and its condition then fails): the copier recognises its own upload in the record. It
once took it for another delivery's and aborted the very upload recorded (this test failed)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from split_helpers import calls_of, copier, counts, drain, listed_huge, open_uploads, take

from copier.fates import Fate
from s3migrator.aws import Aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources


def test_an_upload_record_whose_answer_was_lost_is_not_aborted(
    aws: Aws, s3: Any, sqs: Any, store: JobStore, resources: Resources, make_runner: Any
) -> None:
    # GIVEN a huge object listed, and the table's answer to the upload's record lost once
    body = listed_huge(s3, make_runner)
    copier_s3, calls = calls_of(aws)
    lost: list[str] = []
    pending: list[bool] = []

    def note(params: Any, **_: Any) -> None:
        pending.append(params["Item"]["sk"]["S"].startswith("UPLOAD#"))

    def answer_lost(**_: Any) -> None:
        if pending.pop() and not lost:
            lost.append("once")  # written; its answer never arrives
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    store._ddb.meta.events.register("provide-client-params.dynamodb.PutItem", note)
    store._ddb.meta.events.register("after-call.dynamodb.PutItem", answer_lost)

    def as_s3_answers(params: Any, **_: Any) -> None:
        # moto raises KeyError for a part of an aborted upload; S3 answers 404 NoSuchUpload
        if params["UploadId"] not in open_uploads(s3):
            raise ClientError(
                {
                    "Error": {"Code": "NoSuchUpload", "Message": "The upload does not exist."},
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                },
                "UploadPartCopy",
            )

    copier_s3.meta.events.register("provide-client-params.s3.UploadPartCopy", as_s3_answers)
    with copier(aws, resources, store, copier_s3) as worker:
        # WHEN a copier takes the parent (its record written, the answer lost) and the parts
        (parent,) = take(sqs, resources)
        assert worker.handle(parent).fate is Fate.DELETE
        drain(worker, sqs, resources)
    assert lost == ["once"]
    # THEN the recorded upload was not aborted by its own copier: the object is copied
    assert counts(store) == (1, 0, 1)
    assert calls["AbortMultipartUpload"] == 0
    assert s3.get_object(Bucket="dst-bucket", Key="huge.bin")["Body"].read() == body
    assert open_uploads(s3) == []
