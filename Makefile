# Two commands on a fresh machine: `make demo` and `make test` (README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# `make demo` only: the package and the example host, none of the dev toolchain.
DEMO_VENV := .venv-demo
# `make test-matrix` runs on each of these CPythons that it finds (MATRIX="3.9 3.13" picks).
MATRIX ?= 3.9 3.10 3.11 3.12 3.13
# `make test` runs the matrix on these, beside the whole suite on $(PYTHON).
TEST_MATRIX ?= 3.9 3.13
# inline-snapshot formats snapshots with the venv's ruff.
export PATH := $(BIN):$(PATH)

# The Spotlight sidecar, a real Sentry receiver for the tests, pinned by its lockfile.
SPOTLIGHT := tests/receivers/spotlight

.PHONY: venv receivers demo test test-fast coverage test-matrix lint typecheck collector collector-test collector-check bench clean

$(VENV)/.installed: pyproject.toml examples/acme/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e 'examples/acme[server]'
	touch $@

venv: $(VENV)/.installed

$(DEMO_VENV)/.installed: pyproject.toml examples/acme/pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . -e examples/acme
	touch $@

$(SPOTLIGHT)/node_modules/.package-lock.json: $(SPOTLIGHT)/package-lock.json
	npm ci --prefix $(SPOTLIGHT) --no-audit --no-fund --loglevel=error

receivers: $(SPOTLIGHT)/node_modules/.package-lock.json

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/python examples/demo.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy --strict otel_telemetry

# The whole suite on $(PYTHON) comes last, after the matrix's one line per version; a
# failing matrix fails `make test` once the suite has run too.
# With go on PATH the collector is built first (cached) and the suite includes its tests.
test: lint typecheck receivers
	@command -v chromium >/dev/null || echo "Chromium is not installed: the browser test will not run (apt-get install chromium)."
	@collector=""; \
	if command -v go >/dev/null; then collector=$$($(PYTHON) .ci/build_collector.py) || exit $$?; \
	else echo "go is not on PATH: the collector tests (tests/collector) will not run (https://go.dev/dl/)."; fi; \
	matrix=0; $(PYTHON) .ci/test_matrix.py $(TEST_MATRIX) || matrix=$$?; \
	echo "Whole suite on $$($(BIN)/python -c 'import platform; print(platform.python_version())'):"; \
	OTEL_TELEMETRY_COLLECTOR="$$collector" $(BIN)/pytest || exit $$?; \
	if [ $$matrix -ne 0 ]; then echo "The matrix failed on Python $(TEST_MATRIX): see .venv-matrix/summary.txt"; exit $$matrix; fi

# In-process tests only: no subprocess, no receiver (well under 15 s).
test-fast: venv
	$(BIN)/pytest -q -m "not integration"

# Line and branch coverage of the in-process tests ([tool.coverage] in pyproject.toml).
coverage: venv
	$(BIN)/pytest -q -m "not integration" --cov=otel_telemetry --cov-branch --cov-report=term-missing

# In-process and hook tests on each CPython of $(MATRIX) found here, each in .venv-matrix/3.X.
test-matrix:
	$(PYTHON) .ci/test_matrix.py $(MATRIX)

# The OpenTelemetry Collector of collector-config/builder-config.yaml, built with the
# builder of its release into .cache/collector/ (reused); prints the binary's path.
collector:
	@$(PYTHON) .ci/build_collector.py

# The end-to-end tests of gateway.yaml and agent.yaml on that collector.
collector-test: venv
	@collector=$$($(PYTHON) .ci/build_collector.py) || exit $$?; \
	OTEL_TELEMETRY_COLLECTOR="$$collector" $(BIN)/pytest tests/collector

# The static checks of collector-config/ (Compose and Kubernetes cannot run here).
collector-check: venv
	$(BIN)/pytest tests/test_collector_config.py

# About ten minutes on two cores; the ASGI load needs wrk.
bench: venv
	@command -v wrk >/dev/null || { echo "wrk is not installed: make bench loads the ASGI servers with it (apt-get install wrk)." >&2; exit 2; }
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) .venv-matrix $(SPOTLIGHT)/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage .cache/collector
