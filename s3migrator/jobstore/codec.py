"""Items of the job table and the models they hold: the one place that knows the layout."""

from __future__ import annotations

import base64
import json
import math
import re
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from pydantic import TypeAdapter

from s3migrator.errors import UsageError
from s3migrator.failures import FailureRecord, failures_text, fitted
from s3migrator.migration_state import MigrationState
from s3migrator.models import (
    JOB_ID_PATTERN,
    CopySpec,
    Counters,
    JobRecord,
    ListingCheckpoint,
    ReportLocation,
)
from s3migrator.selection import ListingPlan, Tally
from s3migrator.work import BatchRecord, WorkBatch, WorkItem, shard_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]

JOBS_INDEX = "by-kind"
# The table's TTL attribute: DynamoDB deletes an item some time after this many seconds since
# the epoch. Only a job's own item carries it, from the moment the job ends.
EXPIRES_AT = "expires_at"
DAY_S = 86_400
# A page token is ours only if it is this short: decoding a client's token is bounded work.
MAX_TOKEN_CHARS = 400
_INDEX_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_JOB_ID = re.compile(JOB_ID_PATTERN)
# The listing checkpoint's fields as the job item names them.
LISTING_ATTRIBUTES = {
    "start_after": "l_start_after",
    "next_seq": "l_next_seq",
    "objects": "l_objects",
    "bytes": "l_bytes",
    "complete": "l_complete",
    "group_start": "l_group_start",
}
# What a listing left out, one number each, so that a replacement can add its difference.
TALLY_ATTRIBUTES = {name: f"l_t_{name}" for name in Tally.model_fields}
# What each counter shard adds up (the job's own batches_extra is on its item).
SHARD_COUNTERS = (
    "objects_copied",
    "objects_failed",
    "objects_deleted",
    "objects_verified",
    "bytes_copied",
    "batches_done",
    "batches_spawned",
)
_deserializer = TypeDeserializer()
_items = TypeAdapter(list[WorkItem])
_failures = TypeAdapter(list[FailureRecord])


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: float) -> AttributeValueTypeDef:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def pk(job_id: str) -> AttributeValueTypeDef:
    return s(f"JOB#{job_id}")


def job_key(job_id: str) -> Item:
    return {"pk": pk(job_id), "sk": s("JOB")}


def id_key(job_id: str) -> Item:
    """The item that keeps a job's id taken once its record has expired: the job's batches
    and counter shards outlive its record, and a new job under that id would count them."""
    return {"pk": pk(job_id), "sk": s("ID")}


def expiry(finished_at: float, retention_days: int) -> int:
    """When the item of a job that ended at ``finished_at`` may be deleted: whole seconds,
    rounded up so that no job is kept less than ``retention_days``.

    >>> expiry(1000.5, 1)
    87401
    """
    return math.ceil(finished_at) + retention_days * DAY_S


def page_token(item: dict[str, Any]) -> str:
    """The opaque token for the jobs after ``item`` (an item of the jobs index): its position
    in the index (created_at, job id), as URL-safe base64 of JSON."""
    position = [item["created_at"]["N"], item["job_id"]["S"]]
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_start(token: str) -> Item:
    """The index key a ``page_token`` stands for; UsageError for any other string, so that a
    client's token never reaches DynamoDB as a key it would refuse."""
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, job_id = json.loads(raw)
        if not (
            isinstance(created_at, str)
            and isinstance(job_id, str)
            and _INDEX_NUMBER.fullmatch(created_at)
            and _JOB_ID.fullmatch(job_id)
        ):
            raise ValueError(token)
    except (ValueError, TypeError) as exc:  # binascii.Error and JSON's are ValueErrors
        raise UsageError(
            "next: not a page token; pass the `next` of the page before, as it was"
        ) from exc
    return {**job_key(job_id), "kind": s("job"), "created_at": {"N": created_at}}


def shard_pk(job_id: str, shard: int) -> AttributeValueTypeDef:
    # Counting writes go to the job's shards, each its own partition, never to the job item.
    return s(f"JOB#{job_id}#{shard}")


def shard_key(job_id: str, shard: int) -> Item:
    return {"pk": shard_pk(job_id, shard), "sk": s("COUNT")}


def batch_key(job_id: str, batch_id: str) -> Item:
    return {"pk": shard_pk(job_id, shard_of(batch_id)), "sk": s(f"BATCH#{batch_id}")}


def new_batch_put(
    batch: WorkBatch, *, after: str | None = None, listed: bool = False, tally: Tally | None = None
) -> dict[str, Any]:
    """A transaction's Put of a batch defined anew (``batch_item``): refused when its id names
    a batch already, so an id never names two sets of keys."""
    item = batch_item(batch, after=after, last=None, listed=listed, tally=tally)
    return {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(sk)"}}


def batch_item(
    batch: WorkBatch,
    *,
    after: str | None,
    last: str | None,
    listed: bool,
    tally: Tally | None = None,
) -> Item:
    """A batch as defined before it is sent: listing batches keep their range, others their
    items (a remainder's, a redrive's or a replacement's keys follow no listing range)."""
    item: Item = {
        **batch_key(batch.job_id, batch.batch_id),
        "batch_id": s(batch.batch_id),
        "state": s("defined"),
        "digest": s(batch.digest),
        "epoch": n(batch.epoch),
        "attempt": n(batch.attempt),
        "count": n(len(batch.items)),
        "bytes": n(sum(i.bytes_to_copy for i in batch.items)),
        "redrive": {"BOOL": batch.redrive},
    }
    if batch.waits:
        item["waits"] = n(batch.waits)
    if tally is not None and tally != Tally():
        # What the listing left out in this batch's range, to set right if it is replaced.
        item["tally"] = s(tally.model_dump_json())
    if listed:
        item["last"] = s(batch.items[-1].key)
        if after is not None:
            item["after"] = s(after)
    else:
        item["items"] = s(items_text(batch.items))
    return item


def items_text(items: list[WorkItem]) -> str:
    """A batch's items as its record keeps them (compact JSON)."""
    return json.dumps([i.model_dump() for i in items], ensure_ascii=False, separators=(",", ":"))


def failures_json(failures: list[FailureRecord], *, room_bytes: int) -> AttributeValueTypeDef:
    """The failures as a batch's record stores them, their messages cut as ``fitted`` says
    when all of them would not fit in ``room_bytes``."""
    return s(failures_text(fitted(failures, room_bytes)))


def batch_record(item: dict[str, Any]) -> BatchRecord:
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return BatchRecord(
        batch_id=raw["batch_id"],
        state=raw["state"],
        digest=raw["digest"],
        epoch=int(raw.get("epoch", 0)),
        attempt=int(raw.get("attempt", 1)),
        count=int(raw.get("count", 0)),
        bytes=int(raw.get("bytes", 0)),
        after=raw.get("after"),
        last=raw.get("last"),
        items=_items.validate_json(raw["items"]) if "items" in raw else None,
        redrive=bool(raw.get("redrive", False)),
        copied=int(raw.get("copied", 0)),
        failures=_failures.validate_json(raw["failures"]) if "failures" in raw else [],
        remainder=raw.get("remainder"),
        claim_owner=raw.get("claim_owner"),
        claim_until=float(raw.get("claim_until", 0)),
        replacements=int(raw.get("replacements", 0)),
        tally=Tally.model_validate_json(raw["tally"]) if "tally" in raw else Tally(),
        waits=int(raw.get("waits", 0)),
    )


def listing_attributes(checkpoint: ListingCheckpoint) -> Item:
    """The checkpoint as job item attributes; an unset ``start_after`` is left out."""
    item: Item = {
        LISTING_ATTRIBUTES["next_seq"]: n(checkpoint.next_seq),
        LISTING_ATTRIBUTES["objects"]: n(checkpoint.objects),
        LISTING_ATTRIBUTES["bytes"]: n(checkpoint.bytes),
        LISTING_ATTRIBUTES["complete"]: {"BOOL": checkpoint.complete},
        LISTING_ATTRIBUTES["group_start"]: n(checkpoint.group_start),
        **{TALLY_ATTRIBUTES[name]: n(v) for name, v in checkpoint.tally.model_dump().items()},
    }
    if checkpoint.start_after is not None:
        item[LISTING_ATTRIBUTES["start_after"]] = s(checkpoint.start_after)
    return item


def job_item(record: JobRecord) -> Item:
    """A new job's item: its record, an empty checkpoint's and zero counters' attributes."""
    item: Item = {
        **job_key(record.job_id),
        "kind": s("job"),
        "job_id": s(record.job_id),
        "state": s(record.state.value),
        "phase": s(record.phase.value),
        "percent": n(record.percent),
        "created_at": n(record.created_at),
        "updated_at": n(record.updated_at),
        **listing_attributes(record.listing),
        "batches_extra": n(record.counters.batches_extra),
        "epoch": n(record.epoch),
    }
    optional: dict[str, str | float | None] = {
        "mode": record.mode.value if record.mode else None,
        "spec": record.spec.model_dump_json() if record.spec else None,
        "report": record.report.model_dump_json() if record.report else None,
        "plan": record.plan.model_dump_json() if record.plan else None,
        "migration": record.migration.model_dump_json() if record.migration else None,
        "error": record.error,
        "finished_at": record.finished_at,
    }
    for name, value in optional.items():
        if isinstance(value, str):
            item[name] = s(value)
        elif value is not None:
            item[name] = n(value)
    return item


def job_record(item: dict[str, Any]) -> JobRecord:
    """The record a job item holds (the lease's owner token stays the store's business)."""
    raw = {k: _deserializer.deserialize(v) for k, v in item.items()}
    listing = {
        field: raw[attribute] for field, attribute in LISTING_ATTRIBUTES.items() if attribute in raw
    }
    listing["tally"] = Tally(
        **{
            name: int(raw[attribute])
            for name, attribute in TALLY_ATTRIBUTES.items()
            if attribute in raw
        }
    )
    return JobRecord(
        job_id=raw["job_id"],
        mode=raw.get("mode"),
        spec=CopySpec.model_validate_json(raw["spec"]) if "spec" in raw else None,
        report=ReportLocation.model_validate_json(raw["report"]) if "report" in raw else None,
        plan=ListingPlan.model_validate_json(raw["plan"]) if "plan" in raw else None,
        migration=(
            MigrationState.model_validate_json(raw["migration"]) if "migration" in raw else None
        ),
        state=raw["state"],
        phase=raw["phase"],
        percent=int(raw.get("percent", 0)),
        error=raw.get("error"),
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        finished_at=float(raw["finished_at"]) if "finished_at" in raw else None,
        lease_until=float(raw.get("lease_until", 0)),
        resume_due=float(raw["resume_due"]) if "resume_due" in raw else None,
        resumes=int(raw.get("resumes", 0)),
        last_error=raw.get("last_error"),
        report_due=float(raw["report_due"]) if "report_due" in raw else None,
        report_url=raw.get("report_url"),
        # Numbers come back as Decimal, which the models take as exact ints.
        listing=ListingCheckpoint.model_validate(listing),
        counters=Counters(batches_extra=int(raw.get("batches_extra", 0))),
        epoch=int(raw.get("epoch", 0)),
        redrive_base=int(raw.get("redrive_base", 0)),
        redrive_sent=bool(raw.get("redrive_sent", True)),
        cancel_requested=bool(raw.get("cancel_requested", False)),
    )
