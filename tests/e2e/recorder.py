"""Requests counted at the moto server itself (moto's recorder), whatever client sent them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Actions that only read, by their names' first word.
READS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "Receive")


def _call(endpoint: str, action: str) -> str:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


@contextmanager
def recorded(endpoint: str) -> Iterator[list[dict[str, Any]]]:
    """Every request the server receives inside the block (method, url, headers)."""
    _call(endpoint, "reset-recording")
    _call(endpoint, "start-recording")
    entries: list[dict[str, Any]] = []
    try:
        yield entries
    finally:
        _call(endpoint, "stop-recording")
        text = _call(endpoint, "download-recording")
        entries.extend(json.loads(line) for line in text.splitlines() if line.strip())


def s3_copies(entries: list[dict[str, Any]]) -> list[str]:
    """The CopyObject and UploadPartCopy requests among them (a PUT naming a copy source)."""
    return [
        entry["url"]
        for entry in entries
        if entry["method"] == "PUT"
        and any(name.lower() == "x-amz-copy-source" for name in entry["headers"])
    ]


def writes(entries: list[dict[str, Any]]) -> list[str]:
    """Every request that could change something: S3 PUT, POST and DELETE, and every SQS,
    DynamoDB or other AWS JSON/query action but reads."""
    found = []
    for entry in entries:
        method, url = entry["method"], entry["url"]
        target = next((v for k, v in entry["headers"].items() if k.lower() == "x-amz-target"), "")
        body = str(entry.get("body") or "")
        if target:
            action = target.rsplit(".", 1)[-1]
            if not action.startswith(READS):
                found.append(f"{target} {url}")
        elif "Action=" in body:
            action = body.split("Action=", 1)[1].split("&", 1)[0]
            if not action.startswith(READS):
                found.append(f"{action} {url}")
        elif method in ("PUT", "POST", "DELETE"):
            found.append(f"{method} {url}")
    return found
