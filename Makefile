# The project's commands. `make demo` runs the pipeline; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)

.PHONY: install lock test lint bench serve demo airflow clean

$(PY): requirements.txt
	@if [ -z "$(UV)" ]; then echo "uv not found: installing it with pip"; python3 -m pip install --quiet uv; fi
	python3 -m uv venv --quiet --python 3.11 $(VENV)
	python3 -m uv pip install --quiet --python $(PY) --compile-bytecode -r requirements.txt
	@touch $(PY)

install: $(PY) ## build .venv from the lock

lock: ## recompile requirements.txt from requirements.in
	python3 -m uv pip compile requirements.in -o requirements.txt --python-version 3.11

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check local_aws

test: install ## the whole suite: ruff, unit, contract, end-to-end
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: install ## benchmarks (numbers, not pass/fail)
	$(PY) -m bench

serve: install ## the embedded AWS on 127.0.0.1:4566
	$(PY) -m local_aws serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache reports
