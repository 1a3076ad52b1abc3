# Margin Planner. `make run` serves the app with the demo; `make test` runs the whole suite.
# Both create .venv first (Python 3.11+ from $(PYTHON)); it is re-installed only when
# requirements.txt changes (the stamp file records the last install).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
MANAGE := $(BIN)/python manage.py

.PHONY: venv run test studies lint format bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.x)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

run: venv
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) import_prices
	$(MANAGE) seed_demo
	@echo
	@echo "  Margin Planner: http://127.0.0.1:8000/   (log in as demo / demo-margin)"
	@echo "  Web, Celery worker and beat run below; Ctrl-C stops them all."
	@echo
	exec $(BIN)/honcho start -f Procfile

test: venv
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not study"

# The statistical studies of the engine's errors (many seeded runs each; docs/BENCHMARKS.md).
studies: venv
	$(BIN)/python -m pytest -n 2 --dist worksteal -m study

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m planner.devtools.module_size
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(MANAGE) bench_engine --users 1000000 --months 12 --repeat 3 --floor

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
