# uv, the installer behind every Python environment of the project (.venv and .tools/semgrep).
# Included by the Makefile. uv itself is installed by pip into .tools/uv from mk/uv.lock.txt, which pins the
# version and the sha256 of every wheel, so even the bootstrap cannot change under you.
#
#   uv.lock               the whole dependency tree of mcphub + its dev extra, with hashes (`make lock` updates it)
#   mk/semgrep.lock.txt   semgrep and its tree, with hashes (its own venv: semgrep pins mcp 1.x)
#   mk/uv.lock.txt        uv itself
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' mk/uv.lock.txt)
UV_PREFIX  := .tools/uv
UV         := $(UV_PREFIX)/bin/uv
UV_STAMP   := $(UV_PREFIX)/.installed-$(UV_VERSION)
# uv's own output is terse; the Makefile prints what each step is for.
export UV_NO_PROGRESS := 1

$(UV_STAMP): mk/uv.lock.txt
	@echo "==> uv $(UV_VERSION) (the installer) into $(UV_PREFIX)"
	@rm -rf $(UV_PREFIX)
	@$(PYTHON) -m venv $(UV_PREFIX)
	@$(UV_PREFIX)/bin/python -m pip install --quiet --no-deps --require-hashes -r mk/uv.lock.txt
	@touch $@
