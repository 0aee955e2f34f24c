# postback-relay — the two commands: `make run` (local stack) and `make test` (everything CI checks).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# SAM CLI pins its own dependency versions, so it lives in a virtualenv of its own.
SAM_VENV ?= .venv-sam
SAM      := $(SAM_VENV)/bin/sam
# `sam build` (no container) pip-installs the layer with the runtime's own interpreter, so it needs
# a python3.13 executable. SAM_PYTHON_PATH is the directory holding it: a python3.13 already on PATH,
# else the newest pyenv-installed 3.13.x (the pyenv shim alone fails unless 3.13 is the active version).
SAM_PYTHON_PATH ?= $(shell \
	if d=$$(python3.13 -c 'import os, sys; print(os.path.dirname(sys.executable))' 2>/dev/null); then echo "$$d"; \
	elif v=$$(pyenv latest 3.13 2>/dev/null); then echo "$$(pyenv root)/versions/$$v/bin"; fi)

HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: install install-local run test test-quick browser report-png events lint typecheck cfn-lint pytest validate build bench clean

# Two stamps: `make run` needs only the `local` extra, `make test` the whole `dev` one (local
# included). A dev install stamps both, so `make run` after `make test` never narrows the venv, and
# `make test` after `make run` finds no dev stamp and installs the rest.
$(BIN)/.installed-local: pyproject.toml
	@if [ -f $(BIN)/.installed-dev ] && [ $(BIN)/.installed-dev -nt pyproject.toml ]; then \
		touch $@; \
	else \
		$(PYTHON) -m venv $(VENV) && \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -e '.[local]' && \
		touch $@; \
	fi

$(BIN)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/.installed-local

install: $(BIN)/.installed-dev

install-local: $(BIN)/.installed-local

run: install-local
	$(BIN)/postback-relay serve --host $(HOST) --port $(PORT)

test: install browser lint typecheck cfn-lint pytest

# The report page's layout test (tests/emulator/test_report_page.py) drives Debian's chromium; playwright
# never downloads a browser. Installed only when missing (apt-get: root, or run it under sudo).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# docs/report.png: a screenshot of `postback-relay report --html` over the emulator, through that chromium.
report-png: install browser
	$(BIN)/python -m tests.emulator.report_png docs/report.png

# events/*.json (`sam local invoke -e`) from tests/fixtures and template.yaml; never edited by hand.
events: install-local
	$(BIN)/python -m postback_relay_tools.sample_events

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

cfn-lint: install
	$(BIN)/cfn-lint template.yaml

# Two workers, one per core of the CI machine (pytest-xdist). The simulated-time suite (tests/simulated:
# days of outages on a virtual clock) runs on its own, after the rest: its scenarios are a few long
# items, which balance best among themselves.
pytest: install
	$(BIN)/pytest -q -n 2 --ignore=tests/simulated
	$(BIN)/pytest -q -n 2 tests/simulated

# The quick loop while editing (under 30 s): the tests that need no running stack, server or
# subprocess. Every test marked slow is left out, and so are tests/integration, chaos, fuzz and
# simulated, which are not even imported: collecting them, and schemathesis's plugin, would cost
# more time than the tests themselves. One process: two xdist workers cost more than they save here.
test-quick: install
	$(BIN)/pytest -q -p no:schemathesis -m "not slow" tests/unit tests/tracker tests/emulator

# Benchmarks (bench/run.py): a Markdown table on stdout, the numbers in bench/results/latest.json.
# On the Lambda runtime's Python: make bench PYTHON=python3.13 VENV=.venv313
bench: install
	$(BIN)/python bench/run.py

$(SAM): 
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli

# No AWS credentials needed: the region only satisfies the SAM translator.
validate: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --language-extensions --region us-east-1 --template-file template.yaml

# Builds .aws-sam/build (arm64 wheels are fetched with pip --platform; no Docker needed).
build: $(SAM)
	@py='$(SAM_PYTHON_PATH)'; if [ -z "$$py" ] || [ ! -x "$$py/python3.13" ]; then \
		echo "make build: no python3.13 found (the Lambda runtime is python3.13 and 'sam build' needs that" >&2; \
		echo "  interpreter locally). Install it, e.g. 'pyenv install 3.13', or point SAM_PYTHON_PATH at the" >&2; \
		echo "  directory containing python3.13: make build SAM_PYTHON_PATH=/path/to/bin" >&2; \
		exit 1; fi
	PATH='$(SAM_PYTHON_PATH)':"$$PATH" SAM_CLI_TELEMETRY=0 $(SAM) build --language-extensions --template-file template.yaml

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
