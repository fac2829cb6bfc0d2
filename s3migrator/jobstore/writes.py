"""The table and the only ways this package writes to it: conditional writes and transactions.

A write whose condition does not hold returns False; a transaction DynamoDB cancels on a
conflict with another write (or throttles) is tried again after a short jittered pause, since
the conflict says nothing about our write, only about its timing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.errors import ConditionFailedError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from s3migrator.jobstore.codec import Item

# Seconds since the epoch; injected so tests can move time without patching modules.
Clock = Callable[[], float]
CONFLICT_ATTEMPTS = 10
T = TypeVar("T")
CONFLICT_PAUSE_S = 0.05


class Table:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Clock = time.time) -> None:
        self._ddb = client
        self._table = table_name
        self._clock = clock

    def now(self) -> float:
        """The store's clock: what leases, checkpoints and timestamps are measured against."""
        return self._clock()

    def _retried(self, call: Callable[[], T]) -> T:
        """Run one request; conflicts and throttling are retried with jitter, since they say
        nothing about the request, only about its timing; any other error is raised as the
        project's."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return call()
            except PROVIDER_ERRORS as exc:
                error = translate(exc)
                if not isinstance(error, TransientError) or attempt == CONFLICT_ATTEMPTS - 1:
                    raise error from exc
            time.sleep(random.uniform(0, CONFLICT_PAUSE_S * 2**attempt))
        raise AssertionError("unreachable")

    def _write_if(self, write: Callable[[], object]) -> bool:
        """Run a conditional write (retried as ``_retried`` says); False when its condition
        did not hold."""
        try:
            self._retried(write)
        except ConditionFailedError:
            return False
        return True

    def _read_together(self, keys: list[Item]) -> list[dict[str, Any] | None]:
        """The items as they stood at one moment (one transaction; at most 100 keys), None for
        each that does not exist; a read cancelled by a conflicting write is tried again."""
        gets: Any = [{"Get": {"TableName": self._table, "Key": key}} for key in keys]
        result = self._retried(lambda: self._ddb.transact_get_items(TransactItems=gets))
        return [answer.get("Item") for answer in result.get("Responses", [])]

    def _update(
        self,
        key: Item,
        expression: str,
        condition: str,
        values: Item,
        names: dict[str, str] | None = None,
    ) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self._write_if(lambda: self._ddb.update_item(**kwargs))

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        """All of ``actions`` or none; False when a condition in them did not hold."""
        for action in actions:
            next(iter(action.values())).setdefault("TableName", self._table)
        return self._write_if(lambda: self._ddb.transact_write_items(TransactItems=actions))  # type: ignore[arg-type]
