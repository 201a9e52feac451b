# Two commands on a fresh Debian machine with Python 3.11+:
#   make demo   set up, initialise ./instance, seed demo data, serve on :5000
#   make test   set up, run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: a CJK TrueType font for rendering licenses, poppler (pdfsig,
# pdftoppm, pdffonts) and NSS tools for independent signature checks, zbar as a
# second QR decoder, chromium for the verifier-page browser tests.
DEB_PACKAGES := fonts-wqy-zenhei poppler-utils libnss3-tools zbar-tools chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages demo test clean migration

setup: system-packages $(BIN)/.installed

system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: setup
	$(BIN)/yiwang demo

test: setup
	$(BIN)/pytest

clean:
	rm -rf $(VENV) instance

# Pre-release only: rewrite the one initial migration from the models.
migration: setup
	$(BIN)/python -c 'import tempfile, pathlib; from yiwang.database import make_engine; from yiwang.migrate import regenerate_initial; d = tempfile.mkdtemp(); print(regenerate_initial(make_engine(f"sqlite:///{d}/m.db")))'
