# The dashboard's third-party front-end files, from the npm registry, pinned with integrity hashes.
# Included by the Makefile; `make serve` and `make test` depend on `assets`; later runs only compare stamps.
#
#   tools/web/package-lock.json   versions + integrity of htmx.org, uplot, monaco-editor (served) and axe-core
#                                 (tests only)
#   .tools/web/node_modules/      `npm ci` of that lock (--ignore-scripts: nothing of theirs runs here)
#   mcphub/web/static/vendor/     the few files the pages load, copied out (gitignored: no third-party file is
#                                 committed); the hub serves them under content-hashed names (web/assets.py)
#   mcphub/web/monaco/            Monaco's AMD build (min/vs, its licence, its version), gitignored too; its
#                                 loader asks for files by their own names, so the hub serves this folder under
#                                 /monaco/<version>/ (web/dashboard/monaco.py), not under hashed names

WEB_TOOLS   := .tools/web
# The stamp sits beside the copied files: a checkout without them (a new clone, a new worktree) copies again.
WEB_STAMP   := mcphub/web/static/vendor/.installed-stamp
WEB_VENDOR  := mcphub/web/static/vendor
WEB_MODULES := $(WEB_TOOLS)/node_modules
WEB_MONACO  := mcphub/web/monaco

.PHONY: assets assets-clean

$(WEB_STAMP): tools/web/package.json tools/web/package-lock.json
	@echo "==> Front-end assets from tools/web/package-lock.json"
	@mkdir -p $(WEB_TOOLS)
	@cp tools/web/package.json tools/web/package-lock.json $(WEB_TOOLS)/
	@cd $(WEB_TOOLS) && $(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -rf $(WEB_VENDOR) && mkdir -p $(WEB_VENDOR)
	@cp $(WEB_MODULES)/htmx.org/dist/htmx.min.js $(WEB_VENDOR)/htmx.min.js
	@cp $(WEB_MODULES)/uplot/dist/uPlot.iife.min.js $(WEB_VENDOR)/uplot.min.js
	@cp $(WEB_MODULES)/uplot/dist/uPlot.min.css $(WEB_VENDOR)/uplot.min.css
	@rm -rf $(WEB_MONACO) && mkdir -p $(WEB_MONACO)
	@cp -R $(WEB_MODULES)/monaco-editor/min/vs $(WEB_MONACO)/vs
	@cp $(WEB_MODULES)/monaco-editor/package.json $(WEB_MODULES)/monaco-editor/LICENSE \
		$(WEB_MODULES)/monaco-editor/ThirdPartyNotices.txt $(WEB_MONACO)/
	@touch $@

assets: $(WEB_STAMP) ## Install the dashboard's pinned front-end files (htmx, uPlot, Monaco; axe-core for tests)

assets-clean:
	rm -rf $(WEB_TOOLS) $(WEB_VENDOR) $(WEB_MONACO)
