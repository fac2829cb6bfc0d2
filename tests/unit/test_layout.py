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


def wrong_imports(path: Path, module: str) -> list[str]:
    """The imports of ``path`` (type-only ones too) that point the wrong way for ``module``."""
    return [
        f"{module} ({part_of(module)}) imports {imported} ({part_of(imported)})"
        for imported in sorted(imports_of(path))
        if part_of(imported) not in ALLOWED[part_of(module)]
    ]


def test_dependencies_point_from_the_cli_and_deployables_to_the_kernel_only() -> None:
    # GIVEN every module of the project WHEN its imports are read
    wrong = [line for path in source_files() for line in wrong_imports(path, module_name(path))]
    # THEN none points the wrong way
    assert wrong == []


def test_the_rule_catches_wrong_imports(tmp_path: Path) -> None:
    # GIVEN modules that import the wrong way: the kernel a deployable, one deployable another
    kernel = tmp_path / "kernel.py"
    kernel.write_text("from coordinator.jobs import JobRunner\nimport s3migrator.models\n")
    deployable = tmp_path / "deployable.py"
    deployable.write_text("if True:\n    from progress.status import to_status\n")
    # WHEN they are checked as if they were the kernel's and the coordinator's
    # THEN each wrong import, and only it, is named
    assert wrong_imports(kernel, "s3migrator.models") == [
        "s3migrator.models (kernel) imports coordinator.jobs (coordinator)",
        "s3migrator.models (kernel) imports coordinator.jobs.JobRunner (coordinator)",
    ]
    assert wrong_imports(deployable, "coordinator.jobs") == [
        "coordinator.jobs (coordinator) imports progress.status (progress)",
        "coordinator.jobs (coordinator) imports progress.status.to_status (progress)",
    ]
    assert wrong_imports(deployable, "s3migrator.cli.status") == []


@pytest.mark.parametrize("folder", ["s3migrator", "coordinator", "copier", "progress", "tests"])
def test_no_module_is_over_400_lines(folder: str) -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def error_readings(path: Path) -> list[int]:
    """Lines where ``path`` reads provider errors itself: botocore's exception types, an
    error's ``response``, or an error code compared with something."""

    def reads(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return node.module == "botocore.exceptions"
        if isinstance(node, ast.Attribute):
            return node.attr == "response"
        if isinstance(node, ast.Compare):
            sides = (node.left, *node.comparators)
            return any(isinstance(side, ast.Attribute) and side.attr == "code" for side in sides)
        return False

    return sorted({node.lineno for node in ast.walk(ast.parse(path.read_text())) if reads(node)})


def test_only_the_boundary_reads_provider_errors() -> None:
    # GIVEN every product module but the boundary WHEN each is searched for error reading
    readers = [
        f"{module_name(path)}:{line}"
        for path in source_files()
        if module_name(path) != BOUNDARY
        for line in error_readings(path)
    ]
    # THEN none reads them: they all ask the boundary
    assert readers == []


def test_the_boundary_rule_catches_error_reading(tmp_path: Path) -> None:
    reader = tmp_path / "reader.py"
    reader.write_text(
        "from botocore.exceptions import WaiterError\n"
        "def f(exc, error):\n"
        "    code = exc.response['Error']['Code']\n"
        "    return error.code == 'BucketAlreadyExists'\n"
    )
    assert error_readings(reader) == [1, 3, 4]


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
