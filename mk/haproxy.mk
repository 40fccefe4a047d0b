# Debian's HAProxy, for tests/deploy: `haproxy -c` checks deploy/haproxy.cfg, and the replica test runs that
# same file in front of real `mcphub serve` processes. Included by the Makefile; `make test` depends on
# `haproxy`, `make serve` does not. apt runs only when /usr/sbin/haproxy is missing (as root, like chromium).

HAPROXY := /usr/sbin/haproxy

.PHONY: haproxy

$(HAPROXY):
	$(call apt_install,haproxy,tests/deploy)

haproxy: $(HAPROXY) ## Install Debian's haproxy (as root) for the deployment tests
