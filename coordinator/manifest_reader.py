"""A job's keys read from a manifest instead of a listing: a CSV, or an S3 Inventory report.

The entries come out as ListObjectsV2 gives them (``Key``, ``Size``, ``ETag``, and
``StorageClass``, ``LastModified`` when known), in S3's key order, after ``start_after``: the
sieve, the batching and the checkpoint treat them as a listing, so a manifest job resumes,
re-sends its last group and counts exactly as a listed one does. The files are streamed, a line
at a time and each line bounded, never held whole. An inventory's data files are each in key
order and merged into one; a CSV must already be in that order (keys sorted as S3 lists them, by
their UTF-8 bytes). A manifest that cannot be read as one (out of order, a key twice, a row
outside the job's source, not UTF-8, not gzip, a malformed row) fails the job with the row
named: copying from a manifest that says something else than the user meant would be worse
than stopping, and reading it again would not change it.

A row that lacks what the job decides by costs one HeadObject (a few threads at once): its size
and ETag always, its date for a sync or a date selection, its storage class for a class
selection or ``archived: restore``. An object the HeadObject does not find goes on, marked
``Missing``: its copy fails with S3's reason, reported like any other, never left out unseen.
A resume reads the manifest again from its start up to the checkpoint, keeping the run's lease
(``keep_going``) as it goes.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import AccessDeniedError, InvalidJobError, Missing, NotFoundError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from s3migrator.models import CopySpec
    from s3migrator.selection import ListingPlan, Manifest

Entry = dict[str, Any]
# HeadObject requests in flight at once for rows that lack what the job needs.
HEAD_THREADS = 8
HEAD_CHUNK = 64
# A row is a key of at most 1,024 bytes, URL-encoded (three characters a byte), and a few
# short columns: a longer line is no manifest's, and is refused before it fills memory.
MAX_LINE_CHARS = 8192
# The run's lease is kept every this many rows read.
KEEP_EVERY_ROWS = 10_000
# What a file that is no manifest raises as it is read.
_UNREADABLE = (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error, csv.Error)


def manifest_entries(
    s3: S3Client,
    plan: ListingPlan,
    spec: CopySpec,
    start_after: str | None,
    *,
    keep_going: Callable[[], None] | None = None,
) -> Iterator[Entry]:
    """The objects ``plan.manifest`` names after ``start_after``, in key order (see the
    module's doc); ``keep_going`` is called every ``KEEP_EVERY_ROWS`` rows read."""
    assert plan.manifest is not None
    reader = _ManifestReader(s3, plan, spec, plan.manifest)
    rows = reader.inventory_rows() if plan.manifest.format == "inventory" else reader.csv_rows()
    after = (row for row in rows if start_after is None or row["Key"] > start_after)
    yield from reader.completed(_kept(after, keep_going) if keep_going else after)


def _kept(rows: Iterator[Entry], keep_going: Callable[[], None]) -> Iterator[Entry]:
    for number, row in enumerate(rows, 1):
        if number % KEEP_EVERY_ROWS == 0:
            keep_going()
        yield row


class _ManifestReader:
    def __init__(self, s3: S3Client, plan: ListingPlan, spec: CopySpec, manifest: Manifest):
        self.s3, self.spec, self.manifest = s3, spec, manifest
        select = plan.select
        self.dates = plan.sync or bool(select.modified_after or select.modified_before)
        self.classes = bool(select.storage_classes) or plan.archived == "restore"

    def _get(self, bucket: str, key: str) -> Any:
        """The object's body; InvalidJobError when it is missing or refused."""
        source = self.spec.source
        try:
            found = self.s3.get_object(
                Bucket=bucket,
                Key=key,
                **source.expected_owner(),
                **self.spec.options.source_payer(),
            )
        except PROVIDER_ERRORS as exc:
            error = translate(exc)
            if isinstance(error, (NotFoundError, AccessDeniedError)):
                raise InvalidJobError(
                    f"the manifest's s3://{bucket}/{key} cannot be read: {error} (a manifest"
                    f" is read with the source's access, in the source's account {source.owner})"
                ) from exc
            raise error from exc
        return found["Body"]

    def _lines(self, bucket: str, key: str) -> Iterator[str]:
        """The object's text lines, gunzipped when its name ends in ``.gz``, a leading BOM
        dropped, each at most ``MAX_LINE_CHARS``; InvalidJobError for what is no text."""
        where = f"s3://{bucket}/{key}"
        body = self._get(bucket, key)
        raw: Any = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        number = 0
        try:
            while line := text.readline(MAX_LINE_CHARS):
                number += 1
                if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
                    raise InvalidJobError(
                        f"manifest {where} line {number} is longer than {MAX_LINE_CHARS}"
                        " characters: no row of a manifest is"
                    )
                yield line
        except _UNREADABLE as exc:
            raise InvalidJobError(
                f"manifest {where} cannot be read after line {number}: {exc}"
                " (a manifest is UTF-8 CSV, gzipped when its name ends in .gz)"
            ) from exc

    def _rows(self, bucket: str, key: str) -> Iterator[tuple[int, list[str]]]:
        """Each CSV row with its number; csv's own errors say the file is no manifest."""
        rows = csv.reader(self._lines(bucket, key))
        try:
            yield from enumerate(rows, 1)
        except csv.Error as exc:
            raise InvalidJobError(f"manifest s3://{bucket}/{key} is no CSV: {exc}") from exc

    def csv_rows(self) -> Iterator[Entry]:
        """``bucket,key[,size,etag[,storage class]]`` rows, the key URL-encoded."""
        where = self.manifest.url
        rows = self._rows(self.manifest.bucket, self.manifest.key)
        entries = (self._csv_entry(where, number, row) for number, row in rows)
        return _ordered(where, (entry for entry in entries if entry is not None))

    def _csv_entry(self, where: str, number: int, row: list[str]) -> Entry | None:
        if not any(cell.strip() for cell in row):
            return None  # a blank line
        if len(row) not in (2, 4, 5):
            raise InvalidJobError(
                f"manifest {where} row {number}: {len(row)} columns; a row is bucket,key or"
                " bucket,key,size,etag[,storage class] (the key URL-encoded)"
            )
        entry = self._entry(where, number, row[0], row[1])
        if len(row) >= 4:
            entry.update(_sized(where, number, row[2], row[3]))
        if len(row) == 5 and row[4].strip():
            entry["StorageClass"] = row[4].strip()
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
        for number, row in self._rows(bucket, name):
            if not row:
                continue
            if len(row) != len(schema):
                raise InvalidJobError(
                    f"manifest {where} row {number}: {len(row)} columns where its fileSchema"
                    f" names {len(schema)}"
                )
            cells = dict(zip(schema, row, strict=True))
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
                try:
                    entry["LastModified"] = datetime.fromisoformat(cells["LastModifiedDate"])
                except ValueError as exc:
                    raise InvalidJobError(f"manifest {where} row {number}: {exc}") from exc
            yield entry

    def _entry(self, where: str, number: int, bucket: str, encoded: str) -> Entry:
        key = unquote_plus(encoded)
        source = self.spec.source
        if not key:
            raise InvalidJobError(f"manifest {where} row {number} names no key")
        if bucket != source.bucket or not key.startswith(source.prefix):
            raise InvalidJobError(
                f"manifest {where} row {number} names s3://{bucket}/{key}, outside the job's"
                f" source {source.url}"
            )
        return {"Key": key}

    def completed(self, entries: Iterator[Entry]) -> Iterator[Entry]:
        """Each entry with what the job decides by: rows that lack it are looked up, a few at
        once, in order."""
        with ThreadPoolExecutor(HEAD_THREADS, thread_name_prefix="manifest-head") as pool:
            while chunk := list(islice(entries, HEAD_CHUNK)):
                yield from pool.map(self._complete, chunk)

    def _complete(self, entry: Entry) -> Entry:
        if (
            "Size" in entry
            and ("LastModified" in entry or not self.dates)
            and ("StorageClass" in entry or not self.classes)
        ):
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
                return {"Key": entry["Key"], "Size": 0, "ETag": '""', "Missing": True}
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
