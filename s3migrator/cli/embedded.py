"""Embedded-stack commands: ``demo`` and ``local up`` (moto in server mode on loopback)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from s3migrator.cli.values import count, port

if TYPE_CHECKING:
    from s3migrator.cli.context import Context
    from s3migrator.cli.parser import Commands


def demo_command(context: Context) -> int:
    from s3migrator.cli.local.demo import run_demo

    args = context.args
    started = time.monotonic()
    code = run_demo(
        objects=args.objects,
        workers=args.workers,
        console=context.console,
        stack_name=context.settings.stack_name,
        log_dir=args.logs,
        dashboard=args.dashboard,
    )
    context.console.print(f"demo finished in {time.monotonic() - started:.1f}s, exit {code}")
    return code


def up_command(context: Context) -> int:
    from s3migrator.cli.local.up import run_up

    args = context.args
    return run_up(
        port=args.port,
        workers=args.workers,
        stack_name=context.settings.stack_name,
        console=context.console,
        log_dir=args.logs,
    )


def register(commands: Commands) -> None:
    demo = commands.add(
        "demo",
        help="run a copy job end to end on the embedded stack",
        description=(
            "Start moto on loopback, deploy the stack into it, fill a source bucket with objects\n"
            "of mixed sizes, submit a copy job, run the coordinator and autoscaled copiers with\n"
            "the progress function on a timer, then verify every key, size and byte. Exits 0\n"
            "only when the job succeeded and verification passed."
        ),
        examples=["s3migrator demo", "s3migrator demo --objects 5000 --workers 4 --logs logs/"],
        handler=demo_command,
        logs=True,
    )
    demo.add_argument("--objects", type=count, default=1000, metavar="N", help="objects to copy")
    demo.add_argument("--workers", type=count, default=3, metavar="K", help="most copier processes")
    demo.add_argument("--logs", type=Path, metavar="DIR", help="folder for the processes' logs")
    demo.add_argument(
        "--dashboard",
        action="store_true",
        help="open the dashboard for the demo's job (it stays up until Ctrl-C)",
    )

    local = commands.add(
        "local",
        help="the embedded stack (moto on loopback) for any AWS client",
        description="The embedded stack: moto in server mode on loopback, with the stack deployed.",
        examples=["s3migrator local up --port 5000"],
        handler=None,
    )
    up = commands.group(local, "local_command").add(
        "up",
        help="run the embedded stack in the foreground",
        description=(
            "Start moto on 127.0.0.1:PORT, deploy the stack, and run the coordinator, autoscaled\n"
            "copiers and the progress function until Ctrl-C or SIGTERM, which stop them all.\n"
            "Prints the variables that point any AWS client (boto3, the AWS CLI) at it. A port\n"
            "already in use is refused."
        ),
        examples=["s3migrator local up --port 5000 --logs logs/"],
        handler=up_command,
        logs=True,
    )
    up.add_argument("--port", type=port, default=5000, help="the loopback port to serve on")
    up.add_argument("--workers", type=count, default=3, metavar="K", help="most copier processes")
    up.add_argument("--logs", type=Path, metavar="DIR", help="folder for the processes' logs")
