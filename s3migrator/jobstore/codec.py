"""Items of the job table and the models they hold: the one place that knows the layout."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from s3migrator.models import CopySpec, Counters, JobRecord, ListingCheckpoint, ReportLocation

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]

JOBS_INDEX = "by-kind"
# The listing checkpoint's fields as the job item names them.
LISTING_ATTRIBUTES = {
    "start_after": "l_start_after",
    "next_seq": "l_next_seq",
    "objects": "l_objects",
    "bytes": "l_bytes",
    "complete": "l_complete",
}
_deserializer = TypeDeserializer()


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: float) -> AttributeValueTypeDef:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def pk(job_id: str) -> AttributeValueTypeDef:
    return s(f"JOB#{job_id}")


def job_key(job_id: str) -> Item:
    return {"pk": pk(job_id), "sk": s("JOB")}


def batch_key(job_id: str, batch_id: str) -> Item:
    return {"pk": pk(job_id), "sk": s(f"BATCH#{batch_id}")}


def failure_key(job_id: str, key: str) -> Item:
    # A key may be 1,024 bytes, the sort key's own limit; the key itself is in the record.
    return {"pk": pk(job_id), "sk": s("FAIL#" + hashlib.sha256(key.encode()).hexdigest())}


def listing_attributes(checkpoint: ListingCheckpoint) -> Item:
    """The checkpoint as job item attributes; an unset ``start_after`` is left out."""
    item: Item = {
        LISTING_ATTRIBUTES["next_seq"]: n(checkpoint.next_seq),
        LISTING_ATTRIBUTES["objects"]: n(checkpoint.objects),
        LISTING_ATTRIBUTES["bytes"]: n(checkpoint.bytes),
        LISTING_ATTRIBUTES["complete"]: {"BOOL": checkpoint.complete},
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
        **{name: n(value) for name, value in record.counters.model_dump().items()},
    }
    optional: dict[str, str | float | None] = {
        "mode": record.mode.value if record.mode else None,
        "spec": record.spec.model_dump_json() if record.spec else None,
        "report": record.report.model_dump_json() if record.report else None,
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
    counters = {field: raw[field] for field in Counters.model_fields if field in raw}
    return JobRecord(
        job_id=raw["job_id"],
        mode=raw.get("mode"),
        spec=CopySpec.model_validate_json(raw["spec"]) if "spec" in raw else None,
        report=ReportLocation.model_validate_json(raw["report"]) if "report" in raw else None,
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
        # Numbers come back as Decimal, which the models take as exact ints.
        listing=ListingCheckpoint.model_validate(listing),
        counters=Counters.model_validate(counters),
    )
