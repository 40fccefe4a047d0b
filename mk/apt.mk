# One recipe for the Debian packages the tests need (chromium, haproxy): apt-get as root, else say what to run.
# Use inside a rule whose target is the binary: $(call apt_install,PACKAGE,WHAT NEEDS IT)

define apt_install
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "$@ is missing; $(2) need Debian's $(1), and installing it needs root." >&2; \
	  echo "Run as root: apt-get update && apt-get install -y --no-install-recommends $(1)" >&2; \
	  exit 1; \
	fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1)
	@test -x $@ || { echo "apt-get installed $(1) but $@ is not there" >&2; exit 1; }
endef
