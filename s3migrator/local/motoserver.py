"""moto in server mode, with its DynamoDB backend made safe for concurrent requests.

moto cancels a TransactWriteItems by restoring a deep copy of the whole table taken when the
transaction began, so a cancelled transaction silently undoes every write other requests made
in the meantime (seen here as a job stuck one batch short of done). DynamoDB itself is atomic
and isolated; the embedded stack serialises moto's DynamoDB operations to behave the same.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

_lock = threading.RLock()
_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
)


def serialise_dynamodb() -> None:
    """Wrap moto's DynamoDB backend operations in one re-entrant lock (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_s3migrator_serialised", False):
            continue

        def locked(method: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(method)
            def call(*args: Any, **kwargs: Any) -> Any:
                with _lock:
                    return method(*args, **kwargs)

            call._s3migrator_serialised = True  # type: ignore[attr-defined]
            return call

        setattr(DynamoDBBackend, name, locked(method))


def main(argv: Sequence[str] | None = None) -> None:
    serialise_dynamodb()
    from moto.server import main as moto_main

    moto_main(list(argv) if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
