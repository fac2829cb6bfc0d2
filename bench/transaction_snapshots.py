"""Cheaper rollback snapshots for the bench server's DynamoDB transactions.

Before each item of a TransactWriteItems, moto deep-copies the whole table, so that it can put
the copy back if the transaction is cancelled: a transaction costs O(items in it x items in the
table). A listing of a million keys defines 5,000 batch records ten to a transaction, and the
server, not the coordinator, would be measured. DynamoDB's cost does not grow with the table.

Here a snapshot copies the table's index of items (dictionaries, not the items) and deep-copies
only the items the running transaction names; the others are the same objects, untouched by it.
That is the same rollback as moto's as long as nothing else writes the table meanwhile, which the
embedded stack's serialised DynamoDB (``patch_moto``) ensures.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import defaultdict
from typing import Any

_PATCHED = "_bench_patched"
_state = threading.local()


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, set[Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    found: dict[str, set[Any]] = defaultdict(set)
    for entry in transact_items:
        for operation in entry.values():
            name = operation.get("TableName")
            table = backend.tables.get(name)
            if table is None:
                continue
            key = operation.get("Key") or operation.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = (
                DynamoType(key[table.range_key_attr])
                if table.range_key_attr and table.range_key_attr in key
                else None
            )
            found[name].add((hash_value, range_value))
    return found


def _snapshot(table: Any, keys: set[Any]) -> Any:
    clone = copy.copy(table)
    if table.range_key_attr:
        clone.items = defaultdict(dict, {h: dict(r) for h, r in table.items.items()})
        for hash_value, range_value in keys:
            item = table.items.get(hash_value, {}).get(range_value)
            if item is not None:
                clone.items[hash_value][range_value] = copy.deepcopy(item)
    else:
        clone.items = defaultdict(dict, table.items)
        for hash_value, _ in keys:
            if hash_value in table.items:
                clone.items[hash_value] = copy.deepcopy(table.items[hash_value])
    return clone


class _Copy:
    """Stands for the ``copy`` module inside moto's DynamoDB backend."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        keys = getattr(_state, "touched", None)
        if keys is not None and isinstance(value, Table):
            return _snapshot(value, keys.get(value.name, set()))
        return copy.deepcopy(value, memo)


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    import moto.dynamodb.models as models

    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, _PATCHED, False):
        return
    patched: Any = models
    patched.copy = _Copy()

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _state.touched = _touched(self, transact_items)
        try:
            original(self, transact_items)
        finally:
            _state.touched = None

    setattr(transact_write_items, _PATCHED, True)
    backend: Any = models.DynamoDBBackend
    backend.transact_write_items = transact_write_items
