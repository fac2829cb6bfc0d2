"""The command tree: every command with its help, defaults and examples.

Each command group module (``jobs``, ``status``, ``access``, ``stack``, ``tasks``,
``verification``, ``embedded``) registers its commands through ``Commands.add`` and names the
handler that runs them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3migrator import __version__
from s3migrator.cli import (
    access,
    dashboard,
    embedded,
    jobs,
    migration_commands,
    plan,
    stack,
    status,
    tasks,
    verification,
)

if TYPE_CHECKING:
    from s3migrator.cli.context import Context

Handler = Callable[["Context"], int]

DESCRIPTION = """\
Copy S3 buckets between accounts and regions as a distributed job: a coordinator lists the
source into SQS, copier tasks copy every object server-side, DynamoDB counts exactly."""

EPILOG = """\
AWS configuration is standard: AWS_PROFILE or --profile, AWS_REGION or --region,
AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> for a local endpoint.

exit codes:
  0    done (the job succeeded, or still runs for a one-shot status)
  1    a job failed or completed with failures, verify found differences,
       check found missing access, or the tool refused the request
  2    usage: a bad option, argument or job file
  3    no stack, endpoint or credentials
  4    no job with this id
  5    an AWS request failed (denied, throttled, ...)
  130  interrupted

Every command explains itself: s3migrator COMMAND --help"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples keep their line breaks; each option shows a real default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "%(default)" in text
            or not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
            or isinstance(action.default, list)
        ):
            return text
        return f"{text} (default: %(default)s)"


def _add_common(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--stack", default=default, metavar="NAME", help="stack name (default: s3migrator)"
    )
    parser.add_argument(
        "--profile", default=default, metavar="NAME", help="AWS profile (default: AWS_PROFILE)"
    )
    parser.add_argument(
        "--region", default=default, metavar="REGION", help="AWS region (default: AWS_REGION)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default or False, help="debug logging"
    )


@dataclass
class Commands:
    """Adds commands that share the common options, the formatter and a handler."""

    subparsers: Any  # argparse's private _SubParsersAction
    common: argparse.ArgumentParser

    def add(
        self,
        name: str,
        *,
        help: str,
        description: str,
        examples: Sequence[str],
        handler: Handler | None,
        logs: bool = False,
    ) -> argparse.ArgumentParser:
        """A command; ``logs`` for the long-running ones, whose INFO log lines are their story
        (the others log warnings and errors only, unless --verbose)."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name,
            help=help,
            description=description,
            epilog="examples:\n" + "\n".join(f"  {example}" for example in examples),
            formatter_class=HelpFormatter,
            parents=[self.common],
        )
        parser.set_defaults(handler=handler, command_parser=parser, info_logs=logs)
        return parser

    def group(self, parser: argparse.ArgumentParser, dest: str) -> Commands:
        """Sub-commands of a command (``s3migrator local up``)."""
        return Commands(
            parser.add_subparsers(dest=dest, metavar="COMMAND", title="commands"), self.common
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3migrator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_common(parser)
    parser.add_argument("--version", action="version", version=f"s3migrator {__version__}")
    parser.set_defaults(handler=None, command_parser=parser, info_logs=False)
    # The same options are accepted after the command too (`s3migrator deploy --stack NAME`).
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)
    commands = Commands(
        parser.add_subparsers(dest="command", metavar="COMMAND", title="commands"), common
    )
    groups = (jobs, plan, migration_commands, status, dashboard, verification, access, stack, tasks)
    for group in (*groups, embedded):
        group.register(commands)
    return parser
