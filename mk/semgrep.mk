# semgrep for the compiler's scan stage (mcphub/compiler/scan.py finds it at .tools/semgrep/bin/semgrep).
# It gets a venv of its own: every semgrep release pins mcp 1.x (and click, opentelemetry) versions that
# cannot share .venv with mcphub's mcp 2.x. Its whole tree is pinned with hashes in mk/semgrep.lock.txt;
# the version must be scan.py's SEMGREP_VERSION (checked here), and changing either reinstalls.
# `make serve` installs it only when a compile has something to scan (a fresh clone's generated/ is current).
SEMGREP_VERSION := $(shell sed -n 's/^SEMGREP_VERSION = "\(.*\)"$$/\1/p' mcphub/compiler/scan.py)
SEMGREP_PREFIX  := .tools/semgrep
SEMGREP_STAMP   := $(SEMGREP_PREFIX)/.installed-$(SEMGREP_VERSION)

.PHONY: semgrep

$(SEMGREP_STAMP): mk/semgrep.lock.txt $(UV_STAMP)
	@grep -q '^semgrep==$(SEMGREP_VERSION) ' mk/semgrep.lock.txt || { \
	  echo "mk/semgrep.lock.txt does not pin semgrep $(SEMGREP_VERSION) (scan.py's SEMGREP_VERSION): run make lock" >&2; exit 1; }
	@echo "==> semgrep $(SEMGREP_VERSION) (the compiler's scan stage) into $(SEMGREP_PREFIX)"
	@rm -rf $(SEMGREP_PREFIX)
	@$(UV) venv --quiet --python $(PYTHON) $(SEMGREP_PREFIX)
	@$(UV) pip install --quiet --python $(SEMGREP_PREFIX)/bin/python --require-hashes --no-deps -r mk/semgrep.lock.txt
	@touch $@

semgrep: $(SEMGREP_STAMP) ## Install semgrep (the scan stage of mcphub compile) into .tools/semgrep
