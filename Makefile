# The one task vocabulary for people, the README and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the package with its test tools

run: setup  ## the main job on embedded defaults, ending by serving the API (Ctrl-C stops)
	$(BIN)/retention demo

test: setup  ## the whole test suite (slow tests included)
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

browser-deps:  ## Debian's Chromium and a Chinese font for the browser tests (needs root; CI runs it)
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wqy; then \
		echo "chromium and fonts-wqy-zenhei are installed"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei; \
	fi

bench: setup  ## print the figures the issues ask for (with the public tables of the bench extra)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf var mlruns .pytest_cache .mypy_cache .ruff_cache
