"""``python -m bench`` (``make bench``): every figure of one run, measured on one moto server.

1. A source bucket of ``--objects`` objects is seeded through moto's backend.
2. It is copied, each run into a bucket of its own and with every request recorded at the
   server, by the ceiling (a plain threaded boto3 CopyObject loop), s5cmd, rclone, and
   s3migrator jobs with each of ``--copiers`` copier processes.
3. The coordinator enumerates buckets of ``--enumerate`` keys with no copier running.
4. The table is printed and the JSON written to ``--out``/bench.json.
"""

from __future__ import annotations

import argparse
import compileall
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import listing_index
from bench.job import BENCH_AGENT, Stack, copy_run, enumeration_run
from bench.kill import kill_run
from bench.report import machine, render, write_json
from bench.requests import analyse
from bench.server import BenchServer, configure_recorder
from bench.tools import Tool, ceiling, rclone, rclone_binary, run_tool, s5cmd, s5cmd_binary
from bench.tools import version_of as tool_version

SOURCE = "bench-source"


def keys_for(count: int, prefix: str = "data") -> list[str]:
    """Keys spread over 16 folders, as a real bucket's would be."""
    return [f"{prefix}/{i % 16:02d}/object-{i:07d}.bin" for i in range(count)]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--object-bytes", type=int, default=1024)
    parser.add_argument("--copiers", default="1,2,4", help="comma-separated copier counts")
    parser.add_argument("--enumerate", default="100000,1000000", help="key counts, or ''")
    parser.add_argument("--tools", default="ceiling,s5cmd,rclone", help="others to run, or ''")
    parser.add_argument(
        "--at-scale",
        type=int,
        default=2,
        help="copier count of two more jobs, of --at-scale-objects and twice as many, whose"
        " difference gives the figures per object at scale (0: none)",
    )
    parser.add_argument(
        "--at-scale-objects",
        type=int,
        default=16_000,
        help="the smaller of the two: above the listing's shard threshold (10,000 keys), so"
        " both are listed as a large source is; a multiple of 16,000, so that each of the 16"
        " folders' shards ends on a full LIST page in both jobs and the last partial page of a"
        " shard (once per shard, whatever its size) cancels out as the other once-only"
        " requests do",
    )
    parser.add_argument("--kill", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", type=Path, default=Path("test-output/bench"))
    return parser.parse_args(argv)


def recorded(server: BenchServer, objects: int, run: Any) -> dict[str, Any]:
    server.start_recording()
    try:
        result: dict[str, Any] = run()
    finally:
        entries = server.stop_recording()
    result["requests"] = analyse(entries, objects, leave_out_agent=BENCH_AGENT)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Wide enough for the tables whatever prints them (a terminal, a pipe, a README).
    console = Console(width=160)
    out: Path = args.out
    configure_recorder(out.resolve() / "moto-recording")
    server = BenchServer().start()
    os.environ.update(server.env())
    # Imported once the endpoint is in the environment, as every client of it reads it there.
    from s3migrator.aws import make_aws
    from s3migrator.cli.deployment import deploy
    from s3migrator.resources import resolve
    from s3migrator.settings import Settings

    # The image's processes start from bytecode (pip compiles the wheel it installs); so do the
    # ones measured here, where an editable install under PYTHONDONTWRITEBYTECODE would have
    # each process compile every module of the project again (about 0.1 s of CPU each).
    root = Path(__file__).resolve().parent.parent
    for package in ("s3migrator", "coordinator", "copier", "progress"):
        compileall.compile_dir(root / package, quiet=1)
    aws = make_aws(max_pool_connections=16)
    deploy(aws, "s3migrator")
    stack = Stack(server, aws, resolve(aws, Settings(stack_name="s3migrator")))
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    keys = keys_for(args.objects)
    keys_file = out / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    started = time.monotonic()
    server.seed(SOURCE, keys, args.object_bytes)
    console.print(f"seeded {len(keys):,} objects in {time.monotonic() - started:.1f}s")
    s5 = s5cmd_binary()
    rc = rclone_binary()
    result: dict[str, Any] = {
        "objects": args.objects,
        "object_bytes": args.object_bytes,
        "machine": machine(
            {
                "s5cmd": tool_version([s5, "version"]) if s5 else "-",
                "rclone": tool_version([rc, "version"]).removeprefix("rclone ") if rc else "-",
            }
        ),
        "runs": [],
        "enumeration": [],
    }
    wanted = [name for name in args.tools.split(",") if name]
    others: list[tuple[str, Tool | None]] = [
        ("ceiling", ceiling(server, SOURCE, "bench-ceiling", keys_file)),
        ("s5cmd", s5cmd(server, SOURCE, "bench-s5cmd")),
        ("rclone", rclone(server, SOURCE, "bench-rclone", out)),
    ]
    for name, tool in others:
        if name not in wanted:
            continue
        if tool is None:
            console.print(f"[yellow]{name} is not installed: skipped[/]")
            continue
        destination = f"bench-{name}"
        server.seed(destination, [], 0)
        console.print(f"running {tool.name} ...")
        result["runs"].append(
            recorded(
                server,
                args.objects,
                lambda t=tool, d=destination, n=name: run_tool(
                    t, server, d, args.objects, logs / f"{n}.log"
                ),
            )
        )
    for copiers in [int(k) for k in args.copiers.split(",") if k]:
        console.print(f"running s3migrator with {copiers} copiers ...")
        result["runs"].append(
            recorded(
                server,
                args.objects,
                lambda k=copiers: copy_run(
                    stack,
                    copiers=k,
                    source=SOURCE,
                    destination=f"bench-s3migrator-{k}",
                    objects=args.objects,
                    logs=logs / f"s3migrator-{k}",
                ),
            )
        )
        server.drop(f"bench-s3migrator-{copiers}")
    if args.at_scale:
        # Same copiers, N and 2N objects: what the second job needed more is what each object
        # costs once the job's once-only requests (buckets, job record, the listing's split)
        # are spread over many. Both sources are above the shard threshold, as a large one is.
        for which, count in (
            ("base", args.at_scale_objects),
            ("double", 2 * args.at_scale_objects),
        ):
            source = f"{SOURCE}-scale-{which}"
            server.seed(source, keys_for(count), args.object_bytes)
            console.print(
                f"running s3migrator with {args.at_scale} copiers on {count:,} objects ..."
            )
            run = recorded(
                server,
                count,
                lambda s=source, w=which, n=count: copy_run(
                    stack,
                    copiers=args.at_scale,
                    source=s,
                    destination=f"bench-s3migrator-scale-{w}",
                    objects=n,
                    logs=logs / f"s3migrator-scale-{w}",
                ),
            )
            run["at_scale"] = which
            run["tool"] += f", {count:,} objects"
            result["runs"].append(run)
            server.drop(f"bench-s3migrator-scale-{which}")
            server.drop(source)
    if args.kill:
        console.print("running s3migrator with 2 copiers, one killed (SIGKILL) ...")
        result["kill"] = kill_run(
            stack,
            source=SOURCE,
            destination="bench-s3migrator-kill",
            objects=args.objects,
            logs=logs / "s3migrator-kill",
        )
        server.drop("bench-s3migrator-kill")
    for count in [int(n) for n in args.enumerate.split(",") if n]:
        bucket = f"bench-list-{count}"
        started = time.monotonic()
        server.seed(bucket, keys_for(count, "listed"), 16)
        console.print(f"seeded {count:,} keys in {time.monotonic() - started:.1f}s; enumerating")
        if not result.get("listing_page_ms"):
            middle = keys_for(count, "listed")[count // 2]
            own, indexed = listing_index.page_cost_ms(bucket, middle)
            result["listing_page_ms"] = {
                "keys": count,
                "moto": round(own, 1),
                "sorted_index": round(indexed, 2),
            }
        result["enumeration"].append(
            enumeration_run(stack, source=bucket, keys=count, logs=logs / f"enumerate-{count}")
        )
        server.drop(bucket)
    render(result, console)
    write_json(result, out / "bench.json")
    console.print(f"JSON: {out / 'bench.json'}")
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
