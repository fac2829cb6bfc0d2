# Everything a fresh clone needs: `make demo` and `make test` create the virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own boto3, so it lives in a virtual environment of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
IMAGE ?= s3migrator:latest

.PHONY: venv demo test lint format unit component schedules e2e bench image clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	touch $(CHECKOV_STAMP)

demo: venv
	$(BIN)/s3migrator demo

lint: venv $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml
	$(CHECKOV_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation \
		--skip-download --quiet --compact

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: venv
	$(BIN)/python -m pytest tests/unit -q

component: venv
	$(BIN)/python -m pytest tests/component -q

# The randomized schedules of the protocol; S3MIGRATOR_SCHEDULE_SEEDS=N (or N-M) replays some.
schedules: venv
	$(BIN)/python -m pytest tests/schedules -q -n 2

e2e: venv
	$(BIN)/python -m pytest tests/e2e -q

# The benchmark (bench/, README "Benchmark"): s3migrator beside a boto3 loop, s5cmd and rclone
# on a local moto server; prints the table and writes test-output/bench/bench.json.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_FLAGS)

# Unit, component and schedule tests (in-process moto) on both cores; then the end-to-end
# stories, two at a time (each runs its own moto server and processes, mostly waiting on them).
# The project is compiled to bytecode first: where PYTHONDONTWRITEBYTECODE is set, every
# process the stories start (CLI commands, coordinators, copiers) would compile it again.
test: lint
	$(BIN)/python -m compileall -q s3migrator coordinator copier progress tests
	$(BIN)/python -m pytest -q -n 2 tests/unit tests/component tests/schedules
	$(BIN)/python -m pytest -q -n 2 tests/e2e

# The image's locks: requirements/image.txt (the runtime, `.[lambda]`) and requirements/build.txt
# (the build backend), each version pinned with the hashes of all its files, so they hold for
# linux on arm64 and x86_64 alike. pip-compile runs from a throwaway environment on Python 3.11,
# the image's, and sees the package index alone (PIP_INDEX_URL is kept): a local wheel folder or
# extra index from pip's configuration may hold other builds of a version, whose hashes no image
# build could match. `make lock` keeps the pins that still fit pyproject.toml;
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release allowed.
LOCK_PYTHON ?= python3.11
LOCK_VENV ?= /tmp/s3migrator-lock
LOCK_FLAGS ?=
PIP_COMPILE := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

.PHONY: lock
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || ( $(LOCK_PYTHON) -m venv $(LOCK_VENV) \
		&& $(LOCK_VENV)/bin/python -m pip install --quiet 'pip-tools==7.6.2' )
	mkdir -p requirements
	$(PIP_COMPILE) --extra lambda --output-file requirements/image.txt pyproject.toml
	$(PIP_COMPILE) --build-deps-for wheel --only-build-deps --output-file requirements/build.txt \
		pyproject.toml

# Needs a Docker engine (none runs on the CI machines; the image is built where one does).
image:
	docker build --tag $(IMAGE) .

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
