"""``s3migrator local up``: the embedded stack in the foreground, for any AWS client to use.

Ctrl-C (exit 130) and SIGTERM (exit 0) stop everything it started (copiers, coordinator, moto)
within seconds; should moto stop on its own, the stack stops and says why (exit 1).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from s3migrator.aws import make_aws
from s3migrator.cli.deployment import deploy
from s3migrator.cli.exit_codes import ExitCode
from s3migrator.cli.local.runner import LocalRunner
from s3migrator.cli.local.server import MotoServer, local_env
from s3migrator.resources import resolve
from s3migrator.settings import Settings

WATCH_EVERY_S = 1.0


def export_line(env: dict[str, str]) -> str:
    """One shell line that points any AWS client at the stack."""
    return "export " + " ".join(f"{key}={value}" for key, value in env.items())


def run_up(
    *, port: int, workers: int, stack_name: str, console: Console, log_dir: Path | None
) -> int:
    stop = threading.Event()
    received: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with MotoServer(port=port) as server:
            env = local_env(server.endpoint)
            os.environ.update(env)
            aws = make_aws()
            deploy(aws, stack_name)
            resources = resolve(aws, Settings(stack_name=stack_name))
            runner = LocalRunner(
                aws,
                resources,
                env={**env, "S3MIGRATOR_WAIT_TIME_S": "2"},
                max_copiers=workers,
                log_dir=log_dir,
                stack_name=stack_name,
            )
            runner.start()
            code = ExitCode.OK
            try:
                if not stop.is_set():
                    console.print(
                        f"embedded stack up at [bold]{server.endpoint}[/] (Ctrl-C stops it)"
                    )
                    # Plain prints: these lines are meant to be copied or parsed, never wrapped.
                    print("use it from another shell with:")
                    print(f"  {export_line(env)}")
                    print(f"jobs queue: {resources.jobs_queue_url}", flush=True)
                while not stop.wait(WATCH_EVERY_S):
                    if not server.running:
                        console.print(
                            f"[red]the moto server stopped ({escape(server.last_error())});"
                            " stopping the stack[/]"
                        )
                        code = ExitCode.FAILED
                        break
                console.print("stopping ...")
            finally:
                runner.shutdown()
        console.print("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExitCode.INTERRUPTED if signal.SIGINT in received else code
