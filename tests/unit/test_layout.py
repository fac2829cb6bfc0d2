"""The layout is the architecture: dependencies point one way, modules stay small, one boundary.

Parts: the kernel (``s3migrator`` without its CLI), the deployables (``coordinator``,
``copier``, ``progress``), the CLI (``s3migrator.cli`` and ``python -m s3migrator``) and the
stack (``infra``). The deployables and the CLI build on the kernel; the kernel builds on
nothing of ours; no deployable imports another; only the CLI may use them all.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("s3migrator", "coordinator", "copier", "progress", "infra")
OURS = {"s3migrator", "coordinator", "copier", "progress", "infra"}
MAX_LINES = 400
# The only module that may read botocore's errors (their codes, statuses, responses).
BOUNDARY = "s3migrator.aws_errors"
ALLOWED = {
    "kernel": {"kernel"},
    "coordinator": {"kernel", "coordinator"},
    "copier": {"kernel", "copier"},
    "progress": {"kernel", "progress"},
    "cli": {"kernel", "coordinator", "copier", "progress", "cli"},
    "infra": set(),
}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] == "infra":
        parts[0:1] = ["s3migrator", "infra"]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    if module in ("s3migrator.__main__",) or module.startswith("s3migrator.cli"):
        return "cli"
    if module.startswith("s3migrator.infra"):
        return "infra"
    top = module.split(".")[0]
    return "kernel" if top == "s3migrator" else top


def source_files() -> list[Path]:
    return sorted(p for source in SOURCES for p in (ROOT / source).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


def test_dependencies_point_from_the_cli_and_deployables_to_the_kernel_only() -> None:
    # GIVEN every module of the project WHEN its imports (type-only ones too) are read
    wrong = []
    for path in source_files():
        module = module_name(path)
        for imported in imports_of(path):
            target = part_of(imported)
            if target not in ALLOWED[part_of(module)]:
                wrong.append(f"{module} ({part_of(module)}) imports {imported} ({target})")
    # THEN none points the wrong way
    assert wrong == []


def test_the_rule_catches_a_wrong_import() -> None:
    # The check above must be able to fail: a kernel module importing a deployable does.
    assert "coordinator" not in ALLOWED[part_of("s3migrator.models")]
    assert part_of("s3migrator.cli.local.runner") == "cli"
    assert part_of("s3migrator.jobstore.store") == "kernel"
    assert "progress" not in ALLOWED[part_of("coordinator.jobs")]


@pytest.mark.parametrize("folder", ["s3migrator", "coordinator", "copier", "progress", "tests"])
def test_no_module_is_over_400_lines(folder: str) -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_only_the_boundary_reads_botocore_errors() -> None:
    # GIVEN every product module WHEN one names botocore's error types or an error's response
    readers = []
    for path in source_files():
        module = module_name(path)
        if module == BOUNDARY:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            named = (
                isinstance(node, ast.ImportFrom)
                and node.module == "botocore.exceptions"
                and any(a.name in ("ClientError", "BotoCoreError") for a in node.names)
            )
            if named or (isinstance(node, ast.Attribute) and node.attr == "response"):
                readers.append(f"{module}:{node.lineno}")
    # THEN none does: they all ask the boundary
    assert readers == []


def test_every_package_is_in_the_wheel() -> None:
    # GIVEN the packages pyproject.toml lists (infra/ installs as s3migrator.infra)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    # WHEN the source tree's packages are found
    inits = [init for source in SOURCES for init in (ROOT / source).rglob("__init__.py")]
    found = {module_name(init) for init in inits}
    # THEN each is listed, and infra's template travels with it
    assert found == listed
    assert config["package-dir"]["s3migrator.infra"] == "infra"
    assert "template.yaml" in config["package-data"]["s3migrator.infra"]


def test_the_kernel_says_what_it_is() -> None:
    import s3migrator

    assert s3migrator.__doc__ is not None
    assert "kernel" in s3migrator.__doc__
