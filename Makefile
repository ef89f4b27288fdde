# The README's two commands: `make up` (run everything embedded) and `make test`.
# Needs only python3 (>= 3.11) and make; everything else is installed into .venv from pyproject.toml.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: up test lint typecheck pytest chaos install-dev install-run schemas clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)

# Reinstall when pyproject.toml changes (stamp files).
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --disable-pip-version-check -e '.[broker]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.run-installed

install-run: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

up: install-run
	$(BIN)/pipeline up

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# Two test processes, a test file each (module fixtures stay in one process): the slow tests
# mostly wait (on kills, outages, rate windows), so this halves the wall time on 2 cores.
PYTEST_WORKERS ?= 2

pytest: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The one-minute chaos run (README "Guarantees"): real worker processes, broker cuts, kills and
# platform faults, then the invariant checker; exit 1 on any violation. CI runs it after `test`.
CHAOS_SEED ?= 1
chaos: install-dev
	$(BIN)/pipeline bench chaos --minutes 1 --seed $(CHAOS_SEED)

schemas: install-dev
	$(BIN)/pipeline schemas export

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
