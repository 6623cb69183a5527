# Set-up contract: `make demo` and `make test` are the only commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
# --compile-bytecode: write the .pyc files at install (pip does, uv does not by default); with
# PYTHONDONTWRITEBYTECODE set, as on some CI machines, every CLI call and server process would
# otherwise compile scikit-learn, pandas & co. from source again (seconds each).
UV := $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c $(LOCK)
CHECKED := $(wildcard src tests benchmarks examples)

.PHONY: demo test check pytest lock clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv

$(VENV)/.runtime: pyproject.toml $(LOCK) | $(BIN)/uv
	$(UV) -e .
	@touch $@

$(VENV)/.dev: pyproject.toml $(LOCK) | $(BIN)/uv
	$(UV) -e '.[dev]'
	@touch $@ $(VENV)/.runtime

## demo: create .venv, install (pinned), run the whole loop on the embedded default
demo: $(VENV)/.runtime
	SLIPWAY_HOME="$${SLIPWAY_HOME:-$(CURDIR)/.slipway}" $(BIN)/slipway demo --project examples/tabular

## test: install dev extras and services, then ruff, mypy --strict, import layers, pytest
test: check pytest

check: $(VENV)/.dev
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy
	$(BIN)/lint-imports

# MediaPipe's wheel only as the source of its pre-trained TFLite detectors (docs/object-detection.md):
# --no-deps, because it pins numpy<2 and protobuf<5; its Python code is never imported.
$(VENV)/.mediapipe: | $(BIN)/uv
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps mediapipe==0.10.21
	@touch $@

pytest: $(VENV)/.dev $(VENV)/.mediapipe
	uri="$$(scripts/postgres-up.sh)" && chromium="$$(scripts/chromium-up.sh)" && \
		SLIPWAY_TEST_PG_URI="$$uri" SLIPWAY_TEST_CHROMIUM="$$chromium" $(BIN)/pytest $(PYTEST_ARGS)

## lock: re-pin every dependency after editing pyproject.toml
lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra all --extra dev --python-version 3.11 -q -o $(LOCK)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
