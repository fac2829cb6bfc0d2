"""What a user installs works on its own: the wheel carries the template and deploys it.

The wheel is built from this tree and installed into a fresh virtual environment, run from a
folder outside the tree, so nothing of the source tree is on the path. Its dependencies are
lent from the project's environment (a path file) to keep the test offline and quick; the
s3migrator packages themselves are only the installed wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from s3migrator.cli.local.server import MotoServer, local_env

REPO = Path(__file__).resolve().parents[2]
PACKAGED = (
    "pyproject.toml",
    "README.md",
    "s3migrator",
    "coordinator",
    "copier",
    "progress",
    "infra",
)
IGNORED = shutil.ignore_patterns("__pycache__")


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_installed_wheel_deploys_the_stack_without_the_source_tree(tmp_path: Path) -> None:
    # GIVEN the wheel built from a clean copy of this tree (no stale build/ folder can help),
    # installed alone into a fresh virtual environment
    source = tmp_path / "source"
    source.mkdir()
    for name in PACKAGED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=IGNORED)
        else:
            shutil.copy(REPO / name, source / name)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "--wheel-dir",
        tmp_path / "dist",
        source,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("s3migrator-*.whl")
    fresh = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", fresh, cwd=tmp_path)
    run(
        fresh / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )
    site = Path(
        run(
            fresh / "bin" / "python",
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
            cwd=tmp_path,
        ).strip()
    )
    (site / "lent-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # THEN its packages come from the installed wheel, not from this tree
    where = json.loads(
        run(
            fresh / "bin" / "python",
            "-c",
            "import json, s3migrator, s3migrator.infra, coordinator, copier, progress;"
            "print(json.dumps([m.__file__ for m in"
            " (s3migrator, s3migrator.infra, coordinator, copier, progress)]))",
            cwd=tmp_path,
        )
    )
    assert all(path.startswith(str(site)) for path in where), where
    assert (site / "s3migrator" / "infra" / "template.yaml").is_file()
    # WHEN its `s3migrator deploy` runs against a fresh endpoint
    with MotoServer() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3MIGRATOR_"))}
        env.update(local_env(server.endpoint))
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
        s3migrator = fresh / "bin" / "s3migrator"
        assert s3migrator.is_file(), "the wheel installs the s3migrator command"
        deployed = run(fresh / "bin" / "python", s3migrator, "deploy", cwd=tmp_path, env=env)
        queue = run(
            fresh / "bin" / "python", s3migrator, "outputs", "JobsQueueUrl", cwd=tmp_path, env=env
        )
    # THEN the stack is created from the template inside the wheel
    assert "stack s3migrator created" in deployed
    assert "s3migrator-JobsQueue-" in queue
