# semgrep for the compiler's scan stage (mcphub/compiler/scan.py finds it at .tools/semgrep/bin/semgrep).
# It gets a venv of its own: every semgrep release pins mcp 1.x (and click, opentelemetry) versions that
# cannot share .venv with mcphub's mcp 2.x. The version is scan.py's SEMGREP_VERSION; changing it reinstalls.
SEMGREP_VERSION := $(shell sed -n 's/^SEMGREP_VERSION = "\(.*\)"$$/\1/p' mcphub/compiler/scan.py)
SEMGREP_PREFIX  := .tools/semgrep
SEMGREP_STAMP   := $(SEMGREP_PREFIX)/.installed-$(SEMGREP_VERSION)

.PHONY: semgrep

$(SEMGREP_STAMP):
	rm -rf $(SEMGREP_PREFIX)
	$(PYTHON) -m venv $(SEMGREP_PREFIX)
	$(SEMGREP_PREFIX)/bin/python -m pip install --quiet --upgrade pip
	$(SEMGREP_PREFIX)/bin/python -m pip install --quiet semgrep==$(SEMGREP_VERSION)
	@touch $@

semgrep: $(SEMGREP_STAMP) ## Install semgrep (the scan stage of mcphub compile) into .tools/semgrep
