"""The README's hand-run walkthrough works as it stands.

The test starts `s3migrator local up` as the README's first shell does, then runs the second
shell's block, read from README.md, with bash: only the port is changed (to a free one), and
`.venv` is the environment running the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s3migrator.cli.local.server import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
README_PORT = "5000"


def walkthrough() -> str:
    """The shell block that follows the walkthrough marker in README.md."""
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- walkthrough:[^>]*-->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, "README.md marks its walkthrough block"
    return found.group(1)


def test_the_readme_walkthrough_copies_and_verifies_a_folder(tmp_path: Path) -> None:
    # GIVEN the README's first shell: `s3migrator local up` in a folder holding .venv
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3MIGRATOR_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        PYTHONUNBUFFERED="1",
    )
    up = subprocess.Popen(
        [".venv/bin/s3migrator", "local", "up", "--port", port],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 90
        assert up.stdout is not None
        while not printed or not printed[-1].startswith("jobs queue:"):
            line = up.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(printed)
            printed.append(line)
        # AND the line it prints to point a client at it is the README's, port aside
        (export,) = [line.strip() for line in printed if line.strip().startswith("export ")]
        block = walkthrough().replace(README_PORT, port)
        assert export in block.splitlines()
        # WHEN the README's second shell runs its block as written
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        up.terminate()
        up.wait(timeout=60)
    # THEN every command succeeded: the job was watched to its end and the copy verified
    assert done.returncode == 0, done.stdout + done.stderr
    assert "first-copy succeeded finished 100% objects 40/40" in done.stdout
    assert "verification passed: 40 objects" in done.stdout
