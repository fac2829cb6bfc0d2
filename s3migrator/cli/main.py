"""The command line's entry point and its one error boundary."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

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


def configure_logging(verbose: bool, info: bool) -> None:
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    level = logging.DEBUG if verbose else logging.INFO if info else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        # `s3migrator` or `s3migrator local` without a command: show what there is to run.
        args.command_parser.print_help(sys.stderr)
        return ExitCode.USAGE
    configure_logging(args.verbose, args.info_logs)
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    try:
        context = Context.from_args(args)
    except ValidationError as exc:
        return _fail(UsageError(f"invalid setting: {explain_settings(exc)}"), args.verbose)
    try:
        return int(args.handler(context))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except ValidationError as exc:
        return _fail(UsageError(explain(exc)), args.verbose)
    except S3MigratorError as exc:
        return _fail(exc, args.verbose)
    except PROVIDER_ERRORS as exc:
        return _fail(translate(exc), args.verbose)


def explain_settings(exc: ValidationError) -> str:
    """A settings error on one line, naming the variables a user sets."""
    return "; ".join(
        f"{SETTINGS_PREFIX}{'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _fail(error: S3MigratorError, verbose: bool) -> int:
    if verbose:
        logging.getLogger("s3migrator").exception("command failed")
    print(f"error: {error}", file=sys.stderr)
    return exit_code_for(error)
