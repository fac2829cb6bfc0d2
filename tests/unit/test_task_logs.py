"""Task logs: the coordinator, copiers and a progress run log one JSON record a line, so that a
key holding a line break cannot forge a record; the commands people read keep text."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from s3migrator.cli.main import configure_logging

# What some reader takes for the end of a line: JSON escapes the first two on its own; the
# others pass through unless the output is ASCII only.
BREAKS = "\n\r\u2028\u2029\x85\x0b\x0c\x1c"
FORGED = 'photos/a.jpg\n{"level":"INFO","message":"job done"}'


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test configures logging as a command would; the process's set-up comes back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:], root.level = handlers, level
    sys.excepthook, threading.excepthook = hooks


@pytest.mark.parametrize("command", ["coordinator", "copier", "progress"])
def test_a_task_logs_a_key_with_line_breaks_as_one_json_line(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN logging as the task command sets it up
    configure_logging(command, verbose=False, info=True)
    # WHEN a message names a key that holds a newline and a forged record, and other breaks
    logging.getLogger("copier.worker").warning(
        "could not copy %s", FORGED + BREAKS, extra={"key": BREAKS}
    )
    # THEN stderr holds exactly one line, by any reader's idea of a line
    err = capsys.readouterr().err
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1
    # AND it is JSON that gives the key back whole, with the task and the logger named
    record = json.loads(err)
    assert record["message"] == f"could not copy {FORGED}{BREAKS}"
    assert record["key"] == BREAKS
    assert (record["level"], record["service"], record["name"]) == (
        "WARNING",
        command,
        "copier.worker",
    )


def test_a_task_logs_an_exception_with_its_traceback_in_the_same_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the copier's logging
    configure_logging("copier", verbose=False, info=True)
    # WHEN an error whose message holds a newline is logged with its traceback
    try:
        raise ValueError(FORGED)
    except ValueError:
        logging.getLogger("copier.worker").exception("batch failed")
    # THEN the record, traceback and all, is one JSON line
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    record = json.loads(err)
    assert record["exception_name"] == "ValueError"
    assert FORGED in record["exception"]


def test_a_task_logs_an_uncaught_error_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the coordinator's logging
    configure_logging("coordinator", verbose=False, info=True)
    # WHEN an error escapes everything (the interpreter calls its hook)
    try:
        raise RuntimeError(FORGED)
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    # THEN it is logged as one JSON line, not printed as a traceback
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert json.loads(err)["exception_name"] == "RuntimeError"


@pytest.mark.parametrize("command", ["status", "submit", "demo", None])
def test_commands_people_read_keep_text_logs(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN logging as an interactive command sets it up
    configure_logging(command, verbose=False, info=False)
    # WHEN it logs a warning
    logging.getLogger("s3migrator.cli").warning("the stack is old")
    # THEN the line is text, as before
    err = capsys.readouterr().err
    assert err.rstrip("\n").endswith("WARNING s3migrator.cli the stack is old")
    assert not err.startswith("{")
