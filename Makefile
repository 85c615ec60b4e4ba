# make run  — start tether (daemon, API and dashboard on 127.0.0.1:7700)
# make test — install everything the suite needs and run it
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test agents chromium lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tether serve

test: $(STAMP) agents chromium
	$(PY) -m pytest -q -n 2 --dist loadgroup

# The pinned agent CLIs from the npm registry, cached under ~/.cache/tether/agents.
agents:
	bash scripts/install-agents.sh >/dev/null

# Debian's chromium for the browser tests.
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/ledger.py

clean:
	rm -rf $(VENV) build *.egg-info
