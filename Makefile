# b2b-scoring: make demo | make test | make dev
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-from-pyproject
PYTHON_FOR_VENV := $(shell command -v python3.11 || command -v python3)
PERSONS ?=
PYTEST_ARGS ?=
# Tools the project runs as subprocesses (dagster, dbt) come from the virtualenv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help demo test dev

help:
	@echo "make demo [PERSONS=N]  simulate a B2B world and materialize every asset (data in ./data)"
	@echo "make test              run the test suite"
	@echo "make dev               start the Dagster UI on http://127.0.0.1:$${PORT:-3000}"

# Re-install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/b2b-scoring demo $(if $(PERSONS),--persons $(PERSONS))

test: $(STAMP)
	$(VENV)/bin/ruff check b2b_scoring b2b_scoring_tests benchmarks
	$(PY) -m pytest $(PYTEST_ARGS)

dev: $(STAMP)
	$(VENV)/bin/b2b-scoring dev
