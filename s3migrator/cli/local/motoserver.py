"""moto in server mode, with two of its behaviours made to match AWS for the embedded stack.

* DynamoDB: moto cancels a TransactWriteItems by restoring a deep copy of the whole table taken
  when the transaction began, so a cancelled transaction silently undoes every write other
  requests made in the meantime (seen here as a job stuck one batch short of done). DynamoDB
  itself is atomic and isolated; the embedded stack serialises moto's DynamoDB operations.
* CloudFormation: a stack created or updated through a change set gets no ``Outputs`` in
  ``describe-stacks``; they are rebuilt from the executed template, as CloudFormation shows
  them, so the AWS CLI and any other client read them as they would on AWS.
* S3: expected bucket owners and ``If-None-Match`` on copies are enforced (see
  ``s3_conditions``).
* The recorder (``/moto-api/recorder/``, which the tests and the bench count requests with)
  appends each request from the thread serving it, unlocked, through a buffered file: an entry
  longer than the buffer goes out in pieces, another thread's entry lands between them, and the
  recording holds lines that are not JSON. Each entry is now written whole.

One more saves time only: moto parses a template's YAML in pure Python at each of a deployment's
steps (change set, execution, description), most of a deployment's half second; it now parses
each distinct template once per process and hands out copies.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from s3migrator.cli.local.orphans import exit_with_parent
from s3migrator.cli.local.s3_conditions import enforce_s3_conditions

_lock = threading.RLock()
_recorder_lock = threading.Lock()
_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
)
_PATCHED = "_s3migrator_patched"


def _serialised(
    method: Callable[..., Any], lock: threading.Lock | threading.RLock = _lock
) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    setattr(call, _PATCHED, True)
    return call


def serialise_dynamodb() -> None:
    """Wrap moto's DynamoDB backend operations in one re-entrant lock (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, _PATCHED, False):
            setattr(DynamoDBBackend, name, _serialised(method))


def serialise_recorder() -> None:
    """One request's entry in moto's recording at a time (idempotent)."""
    from moto.moto_api._internal.recorder.models import Recorder

    method = Recorder._record_request
    if not getattr(method, _PATCHED, False):
        recorder: Any = Recorder
        recorder._record_request = _serialised(method, _recorder_lock)


def fill_change_set_outputs() -> None:
    """Give stacks made through change sets the outputs of their template (idempotent)."""
    from moto.cloudformation.models import CloudFormationBackend

    execute = CloudFormationBackend.execute_change_set
    if getattr(execute, _PATCHED, False):
        return

    @functools.wraps(execute)
    def execute_and_fill(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        execute(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_name, change_set.change_set_id):
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    setattr(execute_and_fill, _PATCHED, True)
    CloudFormationBackend.execute_change_set = execute_and_fill  # type: ignore[method-assign]


class _ParsedOnce:
    """The ``yaml`` module as moto's CloudFormation sees it, with ``load`` remembered per text
    and loader; each call gets its own deep copy, since moto changes what it parsed."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._parsed: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def load(self, text: str, Loader: Any) -> Any:  # noqa: N803 (yaml's own keyword)
        key = (text, Loader)
        with self._lock:
            if key not in self._parsed:
                self._parsed[key] = self._module.load(text, Loader=Loader)
            return copy.deepcopy(self._parsed[key])


def parse_templates_once() -> None:
    from moto.cloudformation import models, responses

    for module in (models, responses):
        names = vars(module)
        if not isinstance(names["yaml"], _ParsedOnce):
            names["yaml"] = _ParsedOnce(names["yaml"])


def patch_moto() -> None:
    """Every fix; the embedded stack and the component tests apply them."""
    serialise_dynamodb()
    serialise_recorder()
    fill_change_set_outputs()
    enforce_s3_conditions()
    parse_templates_once()


def main(argv: Sequence[str] | None = None) -> None:
    exit_with_parent()
    patch_moto()
    from moto.server import main as moto_main

    moto_main(list(argv) if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
