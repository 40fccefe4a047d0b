"""Browser tests: the hub's pages in Debian's Chromium under Playwright."""
