"""What every command works with: settings, consoles, and AWS clients built on first use."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from functools import cached_property

from rich.console import Console
from rich.markup import escape

from s3migrator.aws import Aws, make_aws
from s3migrator.jobstore import JobStore
from s3migrator.resources import Resources, resolve
from s3migrator.settings import Settings

# Tables written to a pipe or a file get this width rather than rich's 80 columns, so that
# ids and URLs stay on one line for the scripts that read them.
PIPE_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    """A console whose lines never wrap; on a pipe, tables as wide as PIPE_WIDTH."""
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)
    return console


@dataclass
class Context:
    args: argparse.Namespace
    settings: Settings
    console: Console = field(default_factory=make_console)
    errors: Console = field(default_factory=lambda: make_console(stderr=True))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        settings = Settings()
        if args.stack:
            settings = settings.model_copy(update={"stack_name": args.stack})
        return cls(args=args, settings=settings)

    @cached_property
    def aws(self) -> Aws:
        return make_aws(self.args.profile)

    @cached_property
    def resources(self) -> Resources:
        """The stack's queues and table; ConfigurationError when there is no such stack."""
        return resolve(self.aws, self.settings)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(
            self.aws.dynamodb(),
            self.resources.table_name,
            retention_days=self.settings.job_retention_days,
        )

    def warn(self, message: str) -> None:
        self.errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
