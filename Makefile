# MLoop. `make run` starts the platform on the local stack; `make test` runs the test suite.
# Both install what they need: uv (through pip when missing), then the locked environment.

SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --locked --no-sync

.PHONY: install run test test-unit lint format bench bench-tools

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --locked --quiet

run: install
	$(RUN) python -m mloop_common.localstack

test: install
	$(RUN) python -m pytest $(PYTEST_ARGS)

test-unit: install
	$(RUN) python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: install bench-tools
	$(RUN) python -m bench $(BENCH_ARGS)

# What the serving benchmark needs besides the workspace: wrk (Debian's package), and MLflow in
# a virtual environment of its own (bench/.peers-venv), never in the locked workspace.
bench-tools: install
	@command -v wrk >/dev/null || apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; }
	$(RUN) python -m bench.peers
