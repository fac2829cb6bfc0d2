"""What the manifest tests share: a manifest written to the "manifests" bucket, a row that gives
an object's size and ETag, and the job as the progress run leaves it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from moto_helpers import fill

from progress.refresh import refresh
from s3migrator.jobstore import JobStore
from s3migrator.models import JobRecord
from s3migrator.resources import Resources
from s3migrator.selection import Manifest
from s3migrator.settings import Settings


def finished(store: JobStore, sqs: Any, resources: Resources, job_id: str = "job-1") -> JobRecord:
    """The job as the progress run leaves it."""
    refresh(store, sqs, resources, settings=Settings(stack_name="s3migrator"))
    record = store.get_job(job_id)
    assert record is not None
    return record


def csv_manifest(s3: Any, body: bytes, key: str = "lists/keys.csv") -> Manifest:
    """A manifest of ``body``, written as it is."""
    fill(s3, "manifests", {key: body})
    return Manifest(bucket="manifests", key=key)


def sized_row(s3: Any, key: str, enc: Callable[[str], str] = quote_plus) -> str:
    """A CSV row naming a src-bucket object with its size and ETag, the key encoded by ``enc``."""
    head = s3.head_object(Bucket="src-bucket", Key=key)
    return f"src-bucket,{enc(key)},{head['ContentLength']},{head['ETag']}"
