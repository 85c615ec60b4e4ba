# make run     — start tether (daemon, API and dashboard on 127.0.0.1:7700)
# make test    — install everything the suite needs and run it
# make install — put `tether` on PATH (~/.local/bin) with pipx, uv or a venv of its own
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.run-stamp
BINDIR ?= $(HOME)/.local/bin
APPDIR ?= $(HOME)/.local/share/tether/venv
INSTALLER ?= $(shell command -v pipx >/dev/null && echo pipx || \
	{ command -v uv >/dev/null && echo uv; } || echo venv)

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run install test agents chromium lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

# Running needs only tether's own dependencies, not the test tools.
$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/tether serve

install:
ifeq ($(INSTALLER),pipx)
	pipx install --force .
else ifeq ($(INSTALLER),uv)
	uv tool install --force .
else
	$(PYTHON) -m venv $(APPDIR)
	$(APPDIR)/bin/python -m pip install -q --upgrade .
	mkdir -p $(BINDIR)
	ln -sf $(APPDIR)/bin/tether $(BINDIR)/tether
endif
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "add $(BINDIR) to your PATH";; esac

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
