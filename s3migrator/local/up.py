"""``s3migrator local up``: the embedded stack in the foreground, for any AWS client to use."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from rich.console import Console

from s3migrator.aws import make_aws
from s3migrator.deploy import deploy
from s3migrator.local.runner import LocalRunner
from s3migrator.local.server import MotoServer, local_env
from s3migrator.resources import resolve
from s3migrator.settings import Settings


def run_up(
    *, port: int, workers: int, stack_name: str, console: Console, log_dir: Path | None
) -> int:
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
        console.print(f"embedded stack up at [bold]{server.endpoint}[/] (Ctrl-C stops it)")
        # Plain prints: these lines are meant to be copied or parsed, never wrapped.
        print("use it from another shell with:")
        for key, value in env.items():
            print(f"  export {key}={value}")
        print(f"jobs queue: {resources.jobs_queue_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping ...")
        finally:
            runner.shutdown()
    return 0
