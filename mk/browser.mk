# Debian's Chromium, driven by Playwright for Python, for the browser tests under tests/web.
# Included by the Makefile; `make test` depends on `browser`, `make serve` does not.
#
#   /usr/bin/chromium   Debian's package `chromium` (apt-get; needs root). Playwright's own browser download
#                       cannot work on these machines, so `playwright install` is never run: the tests launch
#                       this binary through `executable_path` (tests/web/browser.py holds the launch flags).
#   playwright          the PyPI wheel, a dev dependency in pyproject.toml; it carries its driver inside.
#
# Both steps run once: apt only when /usr/bin/chromium is missing, and the launch check again only when the
# binary or the venv changes (its stamp is newer than both).

CHROMIUM      := /usr/bin/chromium
BROWSER_STAMP := .tools/browser/.checked-stamp

.PHONY: browser

$(CHROMIUM):
	$(call apt_install,chromium,the browser tests)

# Launches the browser the way the tests do (headless, no download), renders a page and checks its text.
$(BROWSER_STAMP): $(CHROMIUM) $(STAMP) tests/web/browser.py
	$(BIN)/python tests/web/browser.py
	@mkdir -p $(dir $@)
	@touch $@

browser: $(BROWSER_STAMP) ## Install Debian's chromium (as root) and check that Playwright launches it
