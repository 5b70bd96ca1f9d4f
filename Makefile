# Every target creates .venv and installs the project on first use, so a
# fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DB ?= data/executions.db
HOST ?= 127.0.0.1
PORT ?= 8080
# One server process per core (serve --workers); see the README for what it buys.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(os.cpu_count() or 1)')

.PHONY: run test lint browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/execstore serve --db $(DB) --host $(HOST) --port $(PORT) --workers $(WORKERS) \
		--demo-data --demo-engine --session-token

test: lint browser
	$(BIN)/python -m pytest

# tests/server/test_browser_stream.py needs a real browser: Debian's Chromium,
# installed here only where it is missing and apt-get can run as root (or through
# sudo without a password). The lists may be stale on a fresh machine: one
# `apt-get update` and a second try then. Nothing here fails the build: without
# Chromium that test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: no apt-get, Chromium left out (the browser test will skip)"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then as_root=; \
	  elif sudo -n true 2>/dev/null; then as_root="sudo -n"; \
	  else echo "make browser: not root and no sudo, Chromium left out (the browser test will skip)"; exit 0; fi; \
	  apt_install="$$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"; \
	  apt_install="$$apt_install -o DPkg::Lock::Timeout=120 --no-install-recommends chromium"; \
	  echo "make browser: apt-get install chromium"; \
	  $$apt_install >/dev/null 2>&1 \
	    || { $$as_root apt-get update -qq >/dev/null 2>&1; $$apt_install >/dev/null; } \
	    || echo "make browser: apt-get could not install chromium (the browser test will skip)"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m benchmarks.append
	$(BIN)/python -m benchmarks.views
	$(BIN)/python -m benchmarks.http --workers 1,2 --clients 16,64
	$(BIN)/python -m benchmarks.stream --workers 1,2
	$(BIN)/python -m benchmarks.gil_contention
	$(BIN)/python -m benchmarks.abuse

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .import_linter_cache
