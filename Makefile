# Zluri day pipeline: setup / demo / test (+ docker-e2e, pants).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export SPARK_LOCAL_IP ?= 127.0.0.1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PYSPARK_PYTHON ?= $(abspath $(PY))

PACKAGES := packages/feedgen packages/metrics packages/pg packages/staging flows
SOURCES := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.PHONY: setup demo test test-recovery lint bench clean-demo

setup: $(STAMP)

# Re-runs only when pins or package metadata change; editable installs pick up code changes.
$(STAMP): constraints.txt requirements-dev.txt $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	$(VENV)/bin/zluri setup-spark
	touch $(STAMP)

demo: setup
	$(VENV)/bin/zluri demo

# The recovery tests (a day SIGKILLed at four points, then re-run) take several minutes: their own target.
test: setup
	$(PY) -m pytest -m "not recovery"

test-recovery: setup
	$(PY) -m pytest -m recovery tests

# sqlfluff only lints (.sqlfluff): applied migrations must never be rewritten (the migrator
# checksums them); `$(VENV)/bin/sqlfluff fix sql/upserts` fixes the upserts' style.
lint: setup
	$(VENV)/bin/ruff check --config tools/pants/ruff.toml packages flows tests tools
	$(VENV)/bin/ruff format --config tools/pants/ruff.toml --check packages flows tests tools
	$(VENV)/bin/sqlfluff lint --processes 1 sql

SCALE ?= M
LAYOUTS ?= files5k,files50k,onefile
bench: setup
	$(VENV)/bin/zluri bench --scale $(SCALE) --layouts $(LAYOUTS)

-include docker/docker.mk
-include pants.mk

-include tools/cluster/cluster.mk
