# The project's commands. `make demo` runs the pipeline; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)

.PHONY: install lock test lint bench serve demo airflow browser compose env clean

$(PY): requirements.txt
	@if [ -z "$(UV)" ]; then echo "uv not found: installing it with pip"; python3 -m pip install --quiet uv; fi
	python3 -m uv venv --quiet --allow-existing --python 3.11 $(VENV)
	python3 -m uv pip sync --quiet --python $(PY) --compile-bytecode requirements.txt
	@touch $(PY)

install: $(PY) ## build .venv from the lock

lock: ## recompile requirements.txt from requirements.in
	python3 -m uv pip compile requirements.in -o requirements.txt --python-version 3.11

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check local_aws

# Test files are spread over TEST_WORKERS processes (pytest-xdist), a whole file per worker, so a
# module's fixtures are built once; TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: install browser compose ## the whole suite: ruff, unit, contract, end-to-end, deployment
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

bench: install ## benchmarks (numbers, not pass/fail)
	$(PY) -m bench

PIPELINE ?= sales_orders
demo: install ## run one pipeline end to end (PIPELINE=name; default sales_orders)
	$(PY) -m cdc_cli.demo --pipeline $(PIPELINE)

airflow: install ## Airflow (standalone) and the embedded AWS on this laptop: UI at http://127.0.0.1:8080
	$(PY) scripts/airflow_local.py

# System packages the deployment tests need, from Debian's archive (root, or sudo).
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser: ## Chromium for the UI test (tests/deployment/test_ui_trigger.py)
	@if [ ! -x /usr/bin/chromium ]; then $(APT_GET) update -qq && $(APT_GET) install -y -q chromium; fi

compose: ## a Compose validator for docker-compose.yaml (the docker compose plugin, else docker-compose)
	@if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
		$(APT_GET) update -qq && $(APT_GET) install -y -q docker-compose; fi

env: ## .env for docker compose: random secrets, 0600, never overwritten (FORCE=1 replaces them)
	python3 scripts/make_env.py $(if $(FORCE),--force,)

serve: install ## the embedded AWS on 127.0.0.1:4566 (PORT=... for another port)
	$(PY) -m local_aws serve $(if $(PORT),--port $(PORT),)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
