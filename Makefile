# MLoop. `make run` starts the platform on the local stack; `make test` runs the test suite.
# Both install what they need: uv (through pip when missing), then the locked environment.

SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --locked --no-sync

.PHONY: install run test test-unit lint format bench bench-tools browser

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

install: $(UV)
	$(UV) sync --locked --quiet

run: install
	$(RUN) python -m mloop_common.localstack

test: install browser
	$(RUN) python -m pytest $(PYTEST_ARGS)

# The dashboard's browser tests drive Debian's Chromium (with CJK fonts, for the Korean pages'
# screenshots); installed when missing and running as root (elsewhere those tests skip, saying why).
browser:
	@[ "$$(id -u)" != 0 ] || dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q chromium fonts-noto-cjk; }

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
