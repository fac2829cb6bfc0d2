"""The bench's table (rich) and its JSON: every figure beside its target."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.requests import projected_hot_key_rate

PROJECTED_RATE = 10_000  # objects/s the hot-key projection scales to
HOT_KEY_LIMIT = 1_000  # DynamoDB's write units per second per partition


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def machine(tools: dict[str, str]) -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "python": sys.version.split()[0],
        "moto": _package("moto"),
        "boto3": _package("boto3"),
        **tools,
    }


def targets(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(figure, value, target, met) rows."""
    runs = result["runs"]
    ceiling = runs[0]
    ours = [run for run in runs if run.get("copiers")]
    best = max(ours, key=lambda run: run["steady_objects_per_s"])
    rows: list[tuple[str, str, str, bool | None]] = []
    efficiency = best["steady_objects_per_s"] / ceiling["steady_objects_per_s"]
    result["efficiency"] = round(efficiency, 3)
    rows.append(
        (
            f"efficiency ({best['copiers']} copiers, steady / ceiling's steady)",
            f"{efficiency:.2f}",
            ">= 0.95",
            efficiency >= 0.95,
        )
    )
    s5cmd = next((run for run in runs if run["tool"] == "s5cmd"), None)
    if s5cmd is not None:
        for run in ours:
            rows.append(
                (
                    f"copier CPU per object, {run['copiers']} copiers (s5cmd's all)",
                    f"{run['copier_cpu_ms_per_object']:.2f} ms",
                    f"<= {s5cmd['cpu_ms_per_object']:.2f} ms",
                    run["copier_cpu_ms_per_object"] <= s5cmd["cpu_ms_per_object"],
                )
            )
    for run in ours:
        req = run["requests"]
        rows.append(
            (
                f"S3 requests per object, {run['copiers']} copiers",
                f"{req['s3_requests_per_object']:.4f}",
                "<= 1.001",
                req["s3_requests_per_object"] <= 1.001,
            )
        )
        rows.append(
            (
                f"overhead $ per million objects, {run['copiers']} copiers"
                f" (floor ${req['floor_per_million_usd']:.2f})",
                f"${req['overhead_per_million_usd']:.4f}",
                "<= $0.01",
                req["overhead_per_million_usd"] <= 0.01,
            )
        )
        hot = projected_hot_key_rate(req, run["objects"], PROJECTED_RATE)
        measured = req["hottest_key_write_units"] / run["wall_s"]
        rows.append(
            (
                f"hottest DynamoDB key, {run['copiers']} copiers: {measured:.1f} WU/s measured,"
                f" at {PROJECTED_RATE:,} objects/s",
                f"{hot:.0f} WU/s",
                f"< {HOT_KEY_LIMIT:,} WU/s",
                hot < HOT_KEY_LIMIT,
            )
        )
    enumeration = result.get("enumeration", [])
    if len(enumeration) >= 2:
        small, large = enumeration[0], enumeration[-1]
        growth = large["coordinator_peak_rss_mib"] / small["coordinator_peak_rss_mib"] - 1
        rows.append(
            (
                f"coordinator peak RSS, {large['keys']:,} keys vs {small['keys']:,}",
                f"{large['coordinator_peak_rss_mib']:.0f} vs"
                f" {small['coordinator_peak_rss_mib']:.0f} MiB ({growth:+.0%})",
                "within 10%",
                abs(growth) <= 0.10,
            )
        )
    for run in enumeration:
        rows.append(
            (
                f"enumeration, {run['keys']:,} keys (fleet drains"
                f" {best['steady_objects_per_s']:.0f}/s)",
                f"{run['keys_per_s']:,.0f} keys/s",
                "> the fleet's objects/s",
                run["keys_per_s"] > best["steady_objects_per_s"],
            )
        )
    return rows


def render(result: dict[str, Any], console: Console) -> None:
    info = result["machine"]
    console.print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB;"
        f" load average at start {' '.join(info['load_average_at_start'])};"
        f" Python {info['python']}, moto {info['moto']}, boto3 {info['boto3']},"
        f" s5cmd {info['s5cmd']}, rclone {info['rclone']}"
    )
    runs = Table(title=f"copying {result['objects']:,} objects of {result['object_bytes']} B")
    for column in (
        "run",
        "wall s",
        "obj/s",
        "steady obj/s",
        "CPU ms/obj",
        "steady CPU ms/obj",
        "S3 req/obj",
        "all req/obj",
        "machine busy cores",
    ):
        runs.add_column(column, justify="left" if column == "run" else "right")
    for run in result["runs"]:
        req = run.get("requests", {})
        every = sum(req.get("requests", {}).values()) / run["objects"] if req else 0
        runs.add_row(
            run["tool"],
            f"{run['wall_s']:.1f}",
            f"{run['objects_per_s']:.0f}",
            f"{run['steady_objects_per_s']:.0f}",
            f"{run['cpu_ms_per_object']:.2f}",
            f"{run['steady_cpu_ms_per_object']:.2f}",
            f"{req.get('s3_requests_per_object', 0):.4f}",
            f"{every:.3f}",
            f"{run.get('machine_busy_cores') or 0:.2f}",
        )
    console.print(runs)
    by_action = Table(title="requests per object at the server, by service and action")
    by_action.add_column("service action")
    for run in result["runs"]:
        by_action.add_column(run["tool"], justify="right")
    actions = sorted({a for run in result["runs"] for a in run["requests"]["per_object"]})
    for action in actions:
        by_action.add_row(
            action,
            *(f"{run['requests']['per_object'].get(action, 0):.4f}" for run in result["runs"]),
        )
    by_action.add_row(
        "$ per million objects (floor, overhead)",
        *(
            f"{run['requests']['floor_per_million_usd']:.2f},"
            f" {run['requests']['overhead_per_million_usd']:.4f}"
            for run in result["runs"]
        ),
    )
    console.print(by_action)
    if result.get("enumeration"):
        table = Table(title="enumeration: job message to last batch enqueued, no copier")
        for column in ("keys", "batches", "wall s", "keys/s", "CPU µs/key", "peak RSS MiB"):
            table.add_column(column, justify="right")
        for run in result["enumeration"]:
            table.add_row(
                f"{run['keys']:,}",
                f"{run['batches']:,}",
                f"{run['wall_s']:.1f}",
                f"{run['keys_per_s']:,.0f}",
                f"{run['coordinator_cpu_us_per_key']:.0f}",
                f"{run['coordinator_peak_rss_mib']:.0f}",
            )
        console.print(table)
    checks = Table(title="targets")
    for column in ("figure", "value", "target", "met"):
        checks.add_column(column)
    for name, value, target, met in targets(result):
        checks.add_row(name, value, target, "-" if met is None else "yes" if met else "NO")
    console.print(checks)
    console.print(f"listing cost: {result.get('listing_page_ms')}")


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True))
