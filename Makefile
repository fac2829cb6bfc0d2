# Everything a fresh clone needs: `make demo` and `make test` create the virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own boto3, so it lives in a virtual environment of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
IMAGE ?= s3migrator:latest

.PHONY: venv demo test lint format unit component schedules e2e image clean

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

# Unit, component and schedule tests (in-process moto) on both cores; the end-to-end stories,
# which run several processes each, one at a time.
test: lint
	$(BIN)/python -m pytest -q -n 2 tests/unit tests/component tests/schedules
	$(BIN)/python -m pytest -q tests/e2e

# Needs a Docker engine (none runs on the CI machines; the image is built where one does).
image:
	docker build --tag $(IMAGE) .

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
