"""Requests as moto's recorder saw them at the server: by service and action, priced.

Prices are us-east-1's (the product brief's): S3 PUT/COPY/POST/LIST $0.005 per 1,000, GET/HEAD
(and every other read) $0.0004 per 1,000, DELETE free; SQS $0.40 per million requests, each
64 KiB chunk of a request's body a request; DynamoDB on demand $0.625 per million write units
and $0.125 per million read units. DynamoDB units are estimated from the request: a write unit
per KiB of each item written (its JSON as sent: a little more than DynamoDB's own size), twice
that inside a transaction; a read unit per GetItem or Query page (a response's size is not
recorded). The floor of a copy is one CopyObject per object and one LIST per 1,000 keys.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

S3_WRITE = 0.005 / 1000
S3_READ = 0.0004 / 1000
SQS_REQUEST = 0.40 / 1e6
SQS_CHUNK = 64 * 1024
DDB_WRITE = 0.625 / 1e6
DDB_READ = 0.125 / 1e6
KIB = 1024

_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/aws4_request")
_S3_SUBRESOURCES = (
    "uploads",
    "uploadId",
    "location",
    "versioning",
    "policy",
    "encryption",
    "publicAccessBlock",
    "ownershipControls",
    "object-lock",
    "tagging",
    "acl",
    "lifecycle",
    "cors",
    "notification",
    "versions",
    "delete",
)


_NOUNS = {"object-lock": "LockConfiguration", "lifecycle": "LifecycleConfiguration"}


def _header(entry: dict[str, Any], name: str) -> str:
    return str(next((v for k, v in entry["headers"].items() if k.lower() == name), ""))


def _body(entry: dict[str, Any]) -> bytes:
    raw = entry.get("body") or ""
    return base64.b64decode(raw) if entry.get("body_encoded") else str(raw).encode()


def service_of(entry: dict[str, Any]) -> str:
    target = _header(entry, "x-amz-target")
    if target.startswith("DynamoDB"):
        return "dynamodb"
    if target.startswith("AmazonSQS"):
        return "sqs"
    found = _SCOPE.search(_header(entry, "authorization"))
    return found.group(1) if found else "other"


def s3_action(entry: dict[str, Any]) -> str:
    """The S3 operation a REST request is, by method, path and sub-resource."""
    method = entry["method"]
    parts = urlsplit(entry["url"])
    query = parse_qs(parts.query, keep_blank_values=True)
    has_key = parts.path.strip("/").count("/") >= 1
    if method == "PUT" and _header(entry, "x-amz-copy-source"):
        return "UploadPartCopy" if "partNumber" in query else "CopyObject"
    if method == "GET" and not has_key and query.get("list-type") == ["2"]:
        return "ListObjectsV2"
    sub = next((name for name in _S3_SUBRESOURCES if name in query), "")
    noun = ("Object" if has_key else "Bucket") + _NOUNS.get(sub, sub[:1].upper() + sub[1:])
    verb = {"GET": "Get", "HEAD": "Head", "PUT": "Put", "POST": "Post", "DELETE": "Delete"}
    if method == "PUT" and not has_key and not sub:
        return "CreateBucket"
    if method == "GET" and not has_key and not sub:
        return "ListObjects"
    return str(verb.get(method, method)) + noun


def action_of(entry: dict[str, Any], service: str) -> str:
    target = _header(entry, "x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    body = _body(entry).decode(errors="replace")
    if "Action=" in body:
        return body.split("Action=", 1)[1].split("&", 1)[0]
    return s3_action(entry) if service == "s3" else entry["method"]


def _units(value: Any) -> int:
    return max(1, math.ceil(len(json.dumps(value)) / KIB))


def _key_of(write: dict[str, Any]) -> str:
    item = write.get("Item") or write.get("Key") or {}
    return str(item.get("pk", {}).get("S", "?"))


def dynamodb_units(action: str, body: dict[str, Any]) -> tuple[list[tuple[str, int]], float]:
    """([(partition key, write units)], read units) of one DynamoDB request."""
    if action in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(_key_of(body), _units(body.get("Item") or body))], 0.0
    if action == "TransactWriteItems":
        writes = []
        for entry in body.get("TransactItems", []):
            for operation in entry.values():
                writes.append((_key_of(operation), 2 * _units(operation)))
        return writes, 0.0
    if action == "BatchWriteItem":
        writes = []
        for requests in body.get("RequestItems", {}).values():
            for request in requests:
                for operation in request.values():
                    writes.append((_key_of(operation), _units(operation)))
        return writes, 0.0
    if action == "GetItem":
        return [], 1.0 if body.get("ConsistentRead") else 0.5
    if action == "TransactGetItems":
        return [], 2.0 * len(body.get("TransactItems", []))
    if action == "BatchGetItem":
        return [], float(sum(len(t.get("Keys", [])) for t in body.get("RequestItems", {}).values()))
    return [], 1.0  # Query, Scan, DescribeTable ...: a page each


def analyse(
    entries: list[dict[str, Any]], objects: int, leave_out_agent: str = ""
) -> dict[str, Any]:
    """Counts by service and action, their price, and DynamoDB's write units per key; requests
    whose User-Agent holds ``leave_out_agent`` (the bench's own) are left out."""
    if leave_out_agent:
        entries = [e for e in entries if leave_out_agent not in _header(e, "user-agent")]
    counts: Counter[tuple[str, str]] = Counter()
    cost: defaultdict[str, float] = defaultdict(float)
    per_key: Counter[str] = Counter()
    write_units = 0
    read_units = 0.0
    for entry in entries:
        service = service_of(entry)
        action = action_of(entry, service)
        counts[(service, action)] += 1
        if service == "s3":
            free = action.startswith("Delete")
            write = action.startswith(("Put", "Copy", "Post", "Create", "List", "UploadPart"))
            cost["s3"] += 0.0 if free else S3_WRITE if write else S3_READ
        elif service == "sqs":
            cost["sqs"] += SQS_REQUEST * max(1, math.ceil(len(_body(entry)) / SQS_CHUNK))
        elif service == "dynamodb":
            writes, reads = dynamodb_units(action, json.loads(_body(entry) or b"{}"))
            for key, units in writes:
                per_key[key] += units
                write_units += units
            read_units += reads
    cost["dynamodb"] = write_units * DDB_WRITE + read_units * DDB_READ
    copies = counts[("s3", "CopyObject")] + counts[("s3", "UploadPartCopy")]
    s3_requests = sum(n for (service, _), n in counts.items() if service == "s3")
    floor = objects * S3_WRITE + math.ceil(objects / 1000) * S3_WRITE
    total = sum(cost.values())
    hottest, hottest_units = per_key.most_common(1)[0] if per_key else ("-", 0)
    return {
        "requests": {f"{s} {a}": n for (s, a), n in sorted(counts.items())},
        "per_object": {f"{s} {a}": round(n / objects, 5) for (s, a), n in sorted(counts.items())},
        "copies": copies,
        "s3_requests": s3_requests,
        "cost_usd": total,
        "s3_requests_per_object": round(s3_requests / objects, 5),
        "cost_per_million_usd": {k: round(v / objects * 1e6, 4) for k, v in sorted(cost.items())},
        "floor_per_million_usd": round(floor / objects * 1e6, 4),
        "overhead_per_million_usd": round((total - floor) / objects * 1e6, 4),
        "dynamodb_write_units": write_units,
        "dynamodb_read_units": read_units,
        "dynamodb_partition_keys": len(per_key),
        "hottest_key": hottest,
        "hottest_key_write_units": hottest_units,
    }


def projected_hot_key_rate(analysis: dict[str, Any], objects: int, rate: float) -> float:
    """Write units per second the hottest partition key would take at ``rate`` objects/s, if
    its share per object stayed what this run measured."""
    return float(analysis["hottest_key_write_units"]) / objects * rate
