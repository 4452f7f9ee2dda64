# Two commands on a fresh machine: `make demo` and `make test` (README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# inline-snapshot formats snapshots with the venv's ruff.
export PATH := $(BIN):$(PATH)

# The Spotlight sidecar, a real Sentry receiver for the tests, pinned by its lockfile.
SPOTLIGHT := tests/receivers/spotlight

.PHONY: venv receivers demo test lint typecheck collector-check bench clean

$(VENV)/.installed: pyproject.toml examples/acme/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e 'examples/acme[server]'
	touch $@

venv: $(VENV)/.installed

$(SPOTLIGHT)/node_modules/.package-lock.json: $(SPOTLIGHT)/package-lock.json
	npm ci --prefix $(SPOTLIGHT) --no-audit --no-fund --loglevel=error

receivers: $(SPOTLIGHT)/node_modules/.package-lock.json

demo: venv
	$(BIN)/python examples/demo.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict otel_telemetry

test: lint typecheck receivers
	@command -v chromium >/dev/null || echo "Chromium is not installed: the browser test will not run (apt-get install chromium)."
	$(BIN)/pytest

collector-check: venv
	$(BIN)/pytest tests/test_collector_config.py

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(SPOTLIGHT)/node_modules .pytest_cache .mypy_cache .ruff_cache
