"""The command line's entry point and its one error boundary."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from pydantic import ValidationError

from s3migrator.aws_errors import PROVIDER_ERRORS, translate
from s3migrator.cli.context import Context
from s3migrator.cli.exit_codes import ExitCode, exit_code_for
from s3migrator.cli.parser import build_parser
from s3migrator.errors import S3MigratorError, UsageError
from s3migrator.models import explain
from s3migrator.settings import SETTINGS_PREFIX


class _CurrentStderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now, so a live display can print logs above it."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


# The tasks (the coordinator and copiers on Fargate, a progress run by hand) log JSON lines, one
# record a line, as the progress function does on Lambda: a message that holds a newline (an
# object key may) cannot pass for a record of its own. The commands people read keep text.
JSON_LOG_COMMANDS = frozenset({"coordinator", "copier", "progress"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_formatter(service: str) -> logging.Formatter:
    """Powertools' JSON formatter (level, location, message, timestamp, service, the logger's
    name, ``extra`` keys, the exception), writing ASCII only: every character that some reader
    takes for a line break (\\n, \\r, U+2028, U+0085) is escaped, so a record is one line."""
    return LambdaPowertoolsFormatter(
        json_serializer=partial(json.dumps, default=str, separators=(",", ":"), ensure_ascii=True),
        utc=True,
        use_rfc3339=True,
        service=service,
        name="%(name)s",
    )


def configure_logging(command: str | None, verbose: bool, info: bool) -> None:
    """Logging for ``command``: JSON lines for the tasks (``JSON_LOG_COMMANDS``), text for
    the rest; INFO with ``info`` (the long-running commands), DEBUG with ``verbose``."""
    service = command if command in JSON_LOG_COMMANDS else None
    handler = _CurrentStderr()
    handler.setFormatter(json_formatter(service) if service else logging.Formatter(TEXT_FORMAT))
    level = logging.DEBUG if verbose else logging.INFO if info else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if service:
        # A crash's traceback would otherwise reach stderr as lines of plain text.
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("s3migrator").critical("uncaught error", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # as the default hook: a thread that exits is no error
    logging.getLogger("s3migrator").critical(
        "uncaught error in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        # `s3migrator` or `s3migrator local` without a command: show what there is to run.
        args.command_parser.print_help(sys.stderr)
        return ExitCode.USAGE
    configure_logging(args.command, args.verbose, args.info_logs)
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    try:
        context = Context.from_args(args)
    except ValidationError as exc:
        return _fail(UsageError(f"invalid setting: {explain_settings(exc)}"), args)
    try:
        return int(args.handler(context))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except ValidationError as exc:
        return _fail(UsageError(explain(exc)), args)
    except S3MigratorError as exc:
        return _fail(exc, args)
    except PROVIDER_ERRORS as exc:
        return _fail(translate(exc), args)


def explain_settings(exc: ValidationError) -> str:
    """A settings error on one line, naming the variables a user sets."""
    return "; ".join(
        f"{SETTINGS_PREFIX}{'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _fail(error: S3MigratorError, args: argparse.Namespace) -> int:
    log = logging.getLogger("s3migrator")
    if args.command in JSON_LOG_COMMANDS:
        # A task's last word is a log record too, so that it stays one JSON line.
        log.error("command failed: %s", error, exc_info=args.verbose)
        return exit_code_for(error)
    if args.verbose:
        log.exception("command failed")
    print(f"error: {error}", file=sys.stderr)
    return exit_code_for(error)
