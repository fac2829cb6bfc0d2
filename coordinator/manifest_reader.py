"""A job's keys read from a manifest instead of a listing: a CSV, or an S3 Inventory report.

The entries come out as ListObjectsV2 gives them (``Key``, ``Size``, ``ETag``, and
``StorageClass``, ``LastModified`` when known), in S3's key order, after ``start_after``: the
sieve, the batching and the checkpoint treat them as a listing, so a manifest job resumes,
re-sends its last group and counts exactly as a listed one does. The files are streamed, never
held whole. An inventory's data files are each in key order and merged into one; a CSV must
already be in that order (keys sorted as S3 lists them, by their UTF-8 bytes). A row out of
order, named twice, or outside the job's source fails the job with the row named: copying from
a manifest that says something else than the user meant would be worse than stopping.

A row that gives no size and ETag (``bucket,key``), or no date for a job that selects by date,
costs one HeadObject, made by a few threads at once; an object the HeadObject does not find
goes on as an empty entry, and its copy then fails with S3's reason, reported like any other,
rather than being left out unseen.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import InvalidJobError, Missing, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec
    from s3migrator.selection import Manifest

Entry = dict[str, Any]
# HeadObject requests in flight at once for rows that give no size and ETag.
HEAD_THREADS = 8
HEAD_CHUNK = 64


def manifest_entries(
    s3: S3Client,
    manifest: Manifest,
    spec: CopySpec,
    start_after: str | None,
    *,
    dates: bool = False,
) -> Iterator[Entry]:
    """The manifest's objects after ``start_after``, in key order (see the module's doc);
    with ``dates`` (the job selects by modification time), each with its ``LastModified``."""
    reader = _ManifestReader(s3, manifest, spec, dates)
    rows = reader.inventory_rows() if manifest.format == "inventory" else reader.csv_rows()
    yield from reader.completed(
        row for row in rows if start_after is None or row["Key"] > start_after
    )


class _ManifestReader:
    def __init__(self, s3: S3Client, manifest: Manifest, spec: CopySpec, dates: bool) -> None:
        self.s3, self.manifest, self.spec, self.dates = s3, manifest, spec, dates

    def _get(self, bucket: str, key: str) -> Any:
        """The object's body; InvalidJobError when there is no such object."""
        try:
            found = self.s3.get_object(Bucket=bucket, Key=key, **self.spec.source.expected_owner())
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, NotFoundError):
                raise InvalidJobError(
                    f"the manifest's s3://{bucket}/{key} cannot be read: {error}"
                ) from exc
            raise error from exc
        return found["Body"]

    def _lines(self, bucket: str, key: str) -> Iterator[str]:
        """The object's text lines, gunzipped when its name ends in ``.gz``."""
        body = self._get(bucket, key)
        raw: Any = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body
        yield from io.TextIOWrapper(raw, encoding="utf-8", newline="")

    def csv_rows(self) -> Iterator[Entry]:
        """``bucket,key[,size,etag]`` rows: the key URL-encoded, size and ETag both or none."""
        where = self.manifest.url
        rows = csv.reader(self._lines(self.manifest.bucket, self.manifest.key))
        entries = (self._csv_entry(where, number, row) for number, row in enumerate(rows, 1))
        return _ordered(where, (entry for entry in entries if entry is not None))

    def _csv_entry(self, where: str, number: int, row: list[str]) -> Entry | None:
        if not any(cell.strip() for cell in row):
            return None  # a blank line
        if len(row) not in (2, 4):
            raise InvalidJobError(
                f"manifest {where} row {number}: {len(row)} columns; a row is bucket,key or"
                " bucket,key,size,etag (the key URL-encoded)"
            )
        entry = self._entry(where, number, row[0], row[1])
        if len(row) == 4:
            entry.update(_sized(where, number, row[2], row[3]))
        return entry

    def inventory_rows(self) -> Iterator[Entry]:
        """The rows of an S3 Inventory report's CSV files, merged in key order; current
        objects only (a report of versions also lists older ones and delete markers)."""
        where = self.manifest.url
        body = self._get(self.manifest.bucket, self.manifest.key)
        try:
            document = json.loads(body.read())
            file_format = document["fileFormat"]
            schema = [name.strip() for name in document["fileSchema"].split(",")]
            files = [item["key"] for item in document["files"]]
            bucket = str(document["destinationBucket"]).removeprefix("arn:aws:s3:::")
            source = document["sourceBucket"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidJobError(f"{where} is no S3 Inventory manifest: {exc!r}") from exc
        if file_format.upper() != "CSV":
            raise InvalidJobError(
                f"{where} lists {file_format} files; s3migrator reads an inventory's CSV files"
                " (set the inventory's format to CSV, or give a CSV manifest)"
            )
        if source != self.spec.source.bucket:
            raise InvalidJobError(
                f"{where} is the inventory of bucket {source!r}, not of the job's source"
                f" {self.spec.source.bucket!r}"
            )
        for needed in ("Bucket", "Key"):
            if needed not in schema:
                raise InvalidJobError(f"{where}: its fileSchema has no {needed} column")
        streams = [
            _ordered(f"s3://{bucket}/{name}", self._inventory_file(bucket, name, schema))
            for name in files
        ]
        return _ordered(where, heapq.merge(*streams, key=lambda entry: str(entry["Key"])))

    def _inventory_file(self, bucket: str, name: str, schema: list[str]) -> Iterator[Entry]:
        where = f"s3://{bucket}/{name}"
        for number, row in enumerate(csv.reader(self._lines(bucket, name)), 1):
            if not row:
                continue
            cells = dict(zip(schema, row, strict=False))
            if cells.get("IsLatest", "true").lower() != "true":
                continue
            if cells.get("IsDeleteMarker", "false").lower() == "true":
                continue
            entry = self._entry(where, number, cells["Bucket"], cells["Key"])
            if cells.get("Size") and cells.get("ETag"):
                entry.update(_sized(where, number, cells["Size"], cells["ETag"]))
            if cells.get("StorageClass"):
                entry["StorageClass"] = cells["StorageClass"]
            if cells.get("LastModifiedDate"):
                entry["LastModified"] = datetime.fromisoformat(cells["LastModifiedDate"])
            yield entry

    def _entry(self, where: str, number: int, bucket: str, encoded: str) -> Entry:
        key = unquote_plus(encoded)
        source = self.spec.source
        if bucket != source.bucket or not key.startswith(source.prefix):
            raise InvalidJobError(
                f"manifest {where} row {number} names s3://{bucket}/{key}, outside the job's"
                f" source {source.url}"
            )
        return {"Key": key}

    def completed(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        """Each entry with its size and ETag: rows that lack them are looked up, a few at once,
        in order."""
        with ThreadPoolExecutor(HEAD_THREADS, thread_name_prefix="manifest-head") as pool:
            while chunk := list(islice(entries, HEAD_CHUNK)):
                yield from pool.map(self._complete, chunk)

    def _complete(self, entry: Entry) -> Entry:
        if "Size" in entry and ("LastModified" in entry or not self.dates):
            return entry
        source = self.spec.source
        try:
            head = self.s3.head_object(
                Bucket=source.bucket,
                Key=entry["Key"],
                **source.expected_owner(),
                **self.spec.options.source_payer(),
            )
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, NotFoundError) and error.missing is Missing.KEY:
                return {**entry, "Size": 0, "ETag": '""'}
            raise error from exc
        found = {
            "Key": entry["Key"],
            "Size": head["ContentLength"],
            "ETag": head["ETag"],
            "LastModified": head["LastModified"],
            "StorageClass": head.get("StorageClass", "STANDARD"),
        }
        if "Restore" in head:
            found["RestoreStatus"] = _restore_status(head["Restore"])
        return found


def _sized(where: str, number: int, size: str, etag: str) -> Entry:
    try:
        bytes_ = int(size)
    except ValueError:
        raise InvalidJobError(
            f"manifest {where} row {number}: size {size!r} is no number"
        ) from None
    if bytes_ < 0 or not etag.strip('"'):
        raise InvalidJobError(f"manifest {where} row {number}: a size and an ETag are needed")
    return {"Size": bytes_, "ETag": etag if etag.startswith('"') else f'"{etag}"'}


def _restore_status(header: str) -> dict[str, Any]:
    """HeadObject's ``Restore`` header as a listing's ``RestoreStatus``."""
    status: dict[str, Any] = {"IsRestoreInProgress": 'ongoing-request="true"' in header}
    if "expiry-date=" in header:
        status["RestoreExpiryDate"] = header.split("expiry-date=", 1)[1].strip('"')
    return status


def _ordered(where: str, entries: Iterable[Entry]) -> Iterator[Entry]:
    """The entries, checked to come in S3's key order, each key once."""
    last: str | None = None
    for number, entry in enumerate(entries, 1):
        key = entry["Key"]
        if last is not None and key <= last:
            said = "twice" if key == last else f"after {last!r}"
            raise InvalidJobError(
                f"manifest {where}: key {key!r} (entry {number}) comes {said}; a manifest names"
                " each key once, in the order S3 lists them (sorted by their UTF-8 bytes)"
            )
        last = key
        yield entry
