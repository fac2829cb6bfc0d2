"""The image takes nothing on a name alone: its base by digest, its packages by hash from a lock.

The Dockerfile and the locks under requirements/ (written by ``make lock``) are read as text: no
Docker engine or package index is needed to check them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_LOCK = ROOT / "requirements" / "image.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"
LOCKS = [IMAGE_LOCK, BUILD_LOCK]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The extra the image installs beside the base dependencies.
IMAGE_EXTRA = "lambda"

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def pip_installs() -> list[list[str]]:
    """Each ``pip install`` command of the Dockerfile's RUN instructions, as words."""
    commands = []
    for keyword, arguments in instructions(DOCKERFILE):
        if keyword == "RUN":
            for command in re.split(r"&&|;", arguments):
                words = command.split()
                if "pip" in " ".join(words) and "install" in words:
                    commands.append(words)
    return commands


def read_lock(path: Path) -> list[Pin]:
    """Every requirement of a pip-compile lock: its pin and the hashes given for it."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        pinned = PIN.match(words[0])
        assert pinned, f"{path.name}: {words[0]!r} is not pinned to one version (name==version)"
        assert all(HASH.match(word) for word in words[1:]), f"{path.name}: {line!r}"
        pins.append(Pin(canonicalize_name(pinned[1]), pinned[2], tuple(words[1:])))
    return pins


def base_images() -> list[str]:
    """The images the Dockerfile's stages start from (a stage built earlier is no image)."""
    stages: set[str] = set()
    images = []
    for keyword, arguments in instructions(DOCKERFILE):
        if keyword == "FROM":
            words = arguments.split()
            if words[0] not in stages:
                images.append(words[0])
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return images


def test_every_from_line_names_its_image_by_digest() -> None:
    images = base_images()
    # THEN there is at least one, and each carries an image digest after its tag
    assert images
    for image in images:
        assert DIGEST.search(image), f"FROM {image}: no @sha256 digest"
    # AND every stage starts from the same image, so both run the Python the locks are for
    assert len(set(images)) == 1


def test_packages_are_installed_from_locks_with_hashes_or_from_the_local_wheel() -> None:
    installs = pip_installs()
    assert installs, "the Dockerfile installs with pip"
    locks_installed = []
    for words in installs:
        # Nothing is resolved during the build: what is installed is what was locked
        assert "--no-deps" in words, " ".join(words)
        if "-r" in words:
            # A lock is installed only with every file's hash checked, and wheels only
            assert "--require-hashes" in words, " ".join(words)
            assert "--only-binary" in words, " ".join(words)
            locks_installed.append(ROOT / words[words.index("-r") + 1])
        else:
            # Anything else is the project's own wheel, built in the image, from no index
            assert "--no-index" in words, " ".join(words)
    # AND both locks are installed
    assert sorted(locks_installed) == sorted(LOCKS)


def test_the_project_wheel_is_built_without_fetching_its_build_backend() -> None:
    (build,) = [
        command.split()
        for keyword, arguments in instructions(DOCKERFILE)
        if keyword == "RUN"
        for command in arguments.split("&&")
        if "pip wheel" in command
    ]
    assert {"--no-build-isolation", "--no-deps", "--no-index"} <= set(build)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_line_of_a_lock_is_one_pinned_version_with_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    for pin in pins:
        assert pin.hashes, f"{lock.name}: {pin.name}=={pin.version} has no hash"
    # AND each package is pinned once
    assert len({pin.name for pin in pins}) == len(pins)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_a_lock_is_for_the_images_python_and_names_no_index(lock: Path) -> None:
    # GIVEN the Python minor version of the image (python:3.X...)
    image = base_images()[0]
    minor = re.match(r"python:(3\.\d+)", image)
    assert minor, image
    text = lock.read_text()
    # THEN the lock was compiled with that Python, by `make lock`
    assert f"autogenerated by pip-compile with Python {minor[1]}\n" in text
    assert "#    make lock\n" in text
    # AND it sends pip to no index, wheel folder or file of its own
    assert not re.search(r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|-e)\b", text, re.M)


def test_every_runtime_dependency_is_locked_at_a_version_it_allows() -> None:
    # GIVEN the base dependencies and the image's extra in pyproject.toml
    project = PYPROJECT["project"]
    wanted = [
        Requirement(spec)
        for spec in [*project["dependencies"], *project["optional-dependencies"][IMAGE_EXTRA]]
    ]
    locked = {pin.name: pin.version for pin in read_lock(IMAGE_LOCK)}
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        # THEN each is in the image's lock, at a version its specifier admits
        assert name in locked, f"{requirement} is not in {IMAGE_LOCK.name}; run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement} but {IMAGE_LOCK.name} pins {locked[name]}; run `make lock`"
        )


def test_the_build_backend_is_locked_at_a_version_pyproject_allows() -> None:
    locked = {pin.name: pin.version for pin in read_lock(BUILD_LOCK)}
    for spec in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {BUILD_LOCK.name}; run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True)
