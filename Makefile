# Tally — common tasks. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: help install install-test serve test check lint format bench docs clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(STAMP) ## Install Tally into .venv

serve: $(STAMP) ## Install and run Tally on 127.0.0.1:5001 (SQLite ./tally.db by default)
	$(BIN)/tally serve

$(TEST_STAMP): $(STAMP) pyproject.toml tests/e2e/node/package.json
	$(BIN)/pip install --quiet -e '.[dev]'
	cd tests/e2e/node && npm ci --no-audit --no-fund --silent
	touch $@

install-test: $(TEST_STAMP) ## Install what the tests need (Python and Node packages)

test: $(TEST_STAMP) ## Install test dependencies and run the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest

lint: $(TEST_STAMP) ## ruff format check, ruff, mypy --strict, import-linter
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(TEST_STAMP) ## Format the code
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

check: lint test ## Everything CI checks

bench: $(TEST_STAMP) ## Run the benchmarks (needs PostgreSQL, pgbench and wrk; BENCH_ARGS=--full)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

docs: $(STAMP) ## Regenerate the error-code table in docs/api.md from the code
	$(BIN)/python -m tally.api.errors docs/api.md

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
