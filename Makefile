# venue_pipeline developer entry points. Every target creates the virtualenv itself, so a fresh
# clone needs only `make demo`, `make ui` or `make test`.
#   make demo   run the enrichment job end to end on the shipped demo venues (SQLite + local images)
#   make ui     open the Dagster UI (http://127.0.0.1:3000) over the demo's state
#   make test   the test suite (extra pytest arguments: make test PYTEST_ARGS='-k sandbox -x')

# The base interpreter, resolved before anything touches PATH: inside an activated .venv,
# sys._base_executable still names the interpreter that has (or can get) uv and pip.
PYTHON ?= python3
SYS_PY := $(shell $(PYTHON) -c 'import sys; print(getattr(sys, "_base_executable", "") or sys.executable)')

VENV  := $(CURDIR)/.venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.venue_pipeline-installed
EXTRAS ?= test,ui,deploy

STATE_DIR := $(CURDIR)/.venue_pipeline
# Dagster's instance (runs, event log, schedules); absolute because Dagster requires it.
DAGSTER_HOME ?= $(STATE_DIR)/dagster_home
export DAGSTER_HOME

UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
DEMO_ARGS ?=
PYTEST_ARGS ?=

# Console scripts of the venv first (dagster dev starts dagster-webserver/dagster-daemon by name).
RUN := env PATH="$(VENV)/bin:$$PATH"

.PHONY: help venv demo ui test clean-state dagster-home
.DEFAULT_GOAL := help

help:
	@echo "make demo         run the enrichment job on the shipped demo venues"
	@echo "make ui           Dagster UI on http://$(UI_HOST):$(UI_PORT) over the demo's state"
	@echo "make test         run the tests (PYTEST_ARGS='...' for extra pytest arguments)"
	@echo "make venv         create/refresh .venv (editable install with extras [$(EXTRAS)])"
	@echo "make clean-state  delete .venue_pipeline/ (venue DB, local images, Dagster instance)"

venv: $(STAMP)

# Reinstall only when pyproject.toml changed since the last install.
# uv is ~8x faster than pip; it is installed into the base interpreter on first use. Always pass
# --python: without it uv would install into the base interpreter instead of .venv.
$(STAMP): pyproject.toml
	@set -e; \
	if "$(SYS_PY)" -m uv --version >/dev/null 2>&1 || "$(SYS_PY)" -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1; then \
	  [ -x "$(PY)" ] || "$(SYS_PY)" -m uv venv -q --python "$(SYS_PY)" "$(VENV)"; \
	  echo "== installing -e .[$(EXTRAS)] into .venv (uv)"; \
	  "$(SYS_PY)" -m uv pip install -q --python "$(PY)" -e ".[$(EXTRAS)]"; \
	else \
	  echo "== uv unavailable; using venv + pip"; \
	  [ -x "$(PY)" ] || "$(SYS_PY)" -m venv "$(VENV)"; \
	  "$(PY)" -m pip --version >/dev/null 2>&1 || "$(PY)" -m ensurepip -q; \
	  "$(PY)" -m pip install -q --disable-pip-version-check -e ".[$(EXTRAS)]"; \
	fi
	@touch "$@"

# Dagster requires an absolute DAGSTER_HOME holding dagster.yaml; seed it from the repo's template
# unless the caller (e.g. .ci/run) already put one there.
dagster-home:
	@case "$(DAGSTER_HOME)" in /*) ;; *) echo "DAGSTER_HOME must be an absolute path (got '$(DAGSTER_HOME)')" >&2; exit 2;; esac
	@mkdir -p "$(DAGSTER_HOME)"
	@[ -f "$(DAGSTER_HOME)/dagster.yaml" ] || cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: venv dagster-home
	$(RUN) "$(VENV)/bin/venue-pipeline" demo $(DEMO_ARGS)
	@echo
	@echo "Demo state is in $(STATE_DIR) (Dagster instance: $(DAGSTER_HOME))."
	@echo "Browse it:  make ui   then open http://$(UI_HOST):$(UI_PORT)/asset-groups"

ui: venv dagster-home
	@echo "Dagster UI on http://$(UI_HOST):$(UI_PORT) (DAGSTER_HOME=$(DAGSTER_HOME)); Ctrl-C stops it."
	$(RUN) "$(VENV)/bin/dagster" dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

test: venv dagster-home
	$(RUN) "$(PY)" -m pytest -q $(PYTEST_ARGS)

clean-state:
	rm -rf "$(STATE_DIR)"
