# The commands a person types. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit protos bench chaos k8s clean

DEMO_STAMP := $(VENV)/.demo-stamp

# `make demo` installs only what the shop needs to run; `make test` and the rest add the
# development tools (pytest, ruff, mypy, selenium, matplotlib, ...).
install: $(STAMP)

$(PY):
	@echo "== make: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml requirements.lock | $(PY)
	@echo "== make: installing the shop's runtime packages into $(VENV) (grpcio, OpenTelemetry, Flask, psycopg, ...; a minute on first use)"
	$(PY) -m pip install -q -c requirements.lock -e .
	touch $@

$(STAMP): pyproject.toml requirements.lock | $(PY)
	@echo "== make: installing the shop and its development tools into $(VENV) (a few minutes on first use)"
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@ $(DEMO_STAMP)

## demo: start user, order, payment, gateway and the load generator; Ctrl-C stops all
demo: $(DEMO_STAMP)
	$(PY) -m services.demo

## test: lint, type-check and run the whole suite
test: install lint typecheck unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install
	$(PY) -m mypy services instrumentation bench chaos dashboards deploy

unit: install
	$(PY) -m pytest -q

## compat: instrumentation tests on the oldest supported library set and the pinned latest
compat:
	PYTHON=$(PYTHON) scripts/compat.sh

## protos: regenerate services/gen from protos/
protos: install
	$(PY) scripts/gen_protos.py

## bench: every benchmark, figures printed (JSON last)
bench: install
	$(PY) -m bench all

## chaos: the long fault scenarios, figures printed (JSON last)
chaos: install
	$(PY) -m chaos

## k8s: check the generated manifests are fresh, render every overlay, validate every object
k8s: install
	$(PY) -m deploy.k8s.generate --check
	$(PY) -m deploy.k8s.validate

clean:
	rm -rf $(VENV) .venv-compat-oldest .venv-compat-latest .data .mypy_cache .ruff_cache .pytest_cache
