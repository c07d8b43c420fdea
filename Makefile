# The two commands: `make run` and `make test`. Both set everything up on a fresh machine first.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PORT ?= 5000
DEMO := COMPASS_DEMO=1 FLASK_APP=app

.PHONY: setup run test lint format bench soak clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(BIN)/.installed node_modules/.installed

run: setup
	$(DEMO) $(BIN)/flask db upgrade
	$(DEMO) $(BIN)/flask import-processes
	$(DEMO) $(BIN)/flask seed-demo
	$(DEMO) $(BIN)/flask demo-records
	@# The worker (timers, e-mails) runs beside the web app and is stopped when the server stops.
	$(DEMO) $(BIN)/flask worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(DEMO) $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check app handlers tests bench
	$(BIN)/ruff format --check app handlers tests bench
	$(BIN)/mypy app/engine handlers

format: setup
	$(BIN)/ruff check --fix app handlers tests bench
	$(BIN)/ruff format app handlers tests bench

bench: setup
	$(BIN)/python bench/complete_task.py
	$(BIN)/python bench/history_growth.py
	$(BIN)/python bench/timers.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/trays.py
	$(BIN)/python bench/dashboard.py

# The long runs, not part of `make test` (which runs each of them briefly): the resilience tests at full
# length (50 kills of the web server, a minute of 50 users). They need PostgreSQL: set TEST_DATABASE_URL.
soak: setup
	COMPASS_SOAK=1 $(BIN)/pytest tests/resilience tests/api/test_fuzz_api.py tests/web/test_fuzz_forms.py

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
