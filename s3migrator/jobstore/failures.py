"""Per-object failure records: why an object could not be copied, one item per key."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from s3migrator.aws_errors import translated
from s3migrator.jobstore.codec import failure_key, pk, s
from s3migrator.models import FailureRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# BatchWriteItem takes at most 25 requests.
_WRITE_BATCH = 25
_UNPROCESSED_PAUSE_S = 0.2


class FailureStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def put(self, job_id: str, failures: Iterable[FailureRecord]) -> None:
        """Store failure records; idempotent, keyed by the object's key."""
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {**failure_key(job_id, f.key), "failure": s(f.model_dump_json())}
                    }
                }
                for f in failures
            ]
        )

    def delete(self, job_id: str, keys: Iterable[str]) -> None:
        """Forget the failure records of objects that have since been copied."""
        self._batch_write([{"DeleteRequest": {"Key": failure_key(job_id, key)}} for key in keys])

    def of_job(self, job_id: str, limit: int | None = None) -> Iterator[FailureRecord]:
        """The job's failure records, page by page; at most ``limit`` of them."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :fail)",
            "ExpressionAttributeValues": {":pk": pk(job_id), ":fail": s("FAIL#")},
        }
        seen = 0
        while True:
            with translated():
                page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                yield FailureRecord.model_validate_json(item["failure"]["S"])
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_write(self, requests: list[Any]) -> None:
        for start in range(0, len(requests), _WRITE_BATCH):
            pending: list[Any] = requests[start : start + _WRITE_BATCH]
            while pending:
                with translated():
                    result = self._ddb.batch_write_item(RequestItems={self._table: pending})
                pending = list(result.get("UnprocessedItems", {}).get(self._table, []))
                if pending:
                    time.sleep(_UNPROCESSED_PAUSE_S)
