# Lookout developer entry points. Works on a fresh Debian 12 machine: `make test` or
# `make run` installs the Debian runtime libraries Qt needs (when root; otherwise it prints
# the sudo command) and builds .venv from pyproject.toml. Nothing is re-done when nothing
# changed. Why each package is needed: docs/dependencies.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than pyproject.toml means "install again".
STAMP := $(VENV)/.lookout-installed
# Chromium (QtWebEngine) refuses to run as root with its sandbox on; offscreen is Qt's
# headless platform, where WebEngine falls back to software rendering.
HEADLESS := QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1
PYTEST_ARGS ?=
RUN_ARGS ?= --demo

# Debian 12 packages holding the shared libraries that PySide6's wheels link against
# but do not bundle (QtCore/Gui/Widgets/Network, QtWebEngine + QtWebEngineProcess,
# QtMultimedia + its FFmpeg plugin, the offscreen, xcb and wayland platform plugins, the
# OpenSSL TLS plugin), plus one font. Found from the NEEDED entries of those files
# mapped with `dpkg -S`, and proved in a bare debootstrap chroot: see
# docs/dependencies.md. apt pulls in their own dependencies.
SYSDEPS_QT := libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6 libxkbcommon0 \
	libegl1 libgl1 libgssapi-krb5-2 libbrotli1 libssl3 fonts-dejavu-core
SYSDEPS_WEBENGINE := libnss3 libnspr4 libasound2 libexpat1 libdrm2 libgbm1 libudev1 \
	libx11-6 libxcb1 libxcomposite1 libxdamage1 libxext6 libxfixes3 libxrandr2 libxtst6 \
	libxkbfile1 libxcb-dri3-0
SYSDEPS_MULTIMEDIA := libpulse0
SYSDEPS_XCB := libx11-xcb1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-glx0 libxcb-icccm4 \
	libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 \
	libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1
SYSDEPS_WAYLAND := libwayland-client0 libwayland-cursor0 libwayland-egl1
SYSDEPS := $(SYSDEPS_QT) $(SYSDEPS_WEBENGINE) $(SYSDEPS_MULTIMEDIA) $(SYSDEPS_XCB) \
	$(SYSDEPS_WAYLAND)
# Not run-time needs of the console: the tools tests/installer checks the .deb with
# (desktop-file-validate, appstreamcli, systemd-analyze; dpkg-deb is in dpkg), and
# poppler-utils, whose pdftotext tests/gui/test_evidence_report.py reads the analyst's PDF
# with. `make sysdeps` installs them too; they are not in the .deb's Depends.
SYSDEPS_INSTALLER := desktop-file-utils appstream systemd poppler-utils
# Not run-time needs either: Debian's Chromium and its WebDriver, which the portal's browser
# tests (tests/integration/test_portal_browser.py, Selenium) open the citizens' portal in.
SYSDEPS_BROWSER := chromium chromium-driver
# Not run-time needs either: the load balancer the cluster tests put in front of several
# relays (tests/support/cluster.py, HAProxy in TCP mode; docs/scaling.md), and the
# PostgreSQL server they (and the PostgreSQL tests) start a throwaway cluster of.
SYSDEPS_CLUSTER := haproxy postgresql
# The portal's accessibility test runs axe-core (npm registry, pinned by
# tests/a11y/package-lock.json) in that Chromium; npm installs it. Node.js and npm come
# with the machine image; `make sysdeps` installs Debian's when they are missing.
A11Y := tests/a11y/node_modules/axe-core/axe.min.js

.PHONY: help sysdeps venv test lint format run bench installer test-installer clean distclean

help:
	@cat <<'EOF'
	make run        start the console in demo mode (embedded relay, simulated citizens)
	make test       ruff, ruff format --check, mypy, lint-imports, pytest (headless)
	make lint       ruff check, ruff format --check, mypy, lint-imports
	make format     ruff format and ruff check --fix
	make bench      run every bench/*.py with default arguments
	make installer  build dist/lookout/ (PyInstaller, one folder), its .tar.gz and the .deb
	make test-installer  build them, then test the bundle from outside the checkout
	make venv       create/refresh .venv from pyproject.toml (only when it changed)
	make sysdeps    check/install the Debian libraries Qt needs at run time
	make clean      remove caches and build output; make distclean also removes .venv
	EOF

# Checks with one dpkg-query call (fast when all is there). As root: apt-get update and
# install only the missing ones. Otherwise: print the exact command and fail.
sysdeps:
	@if ! command -v dpkg-query >/dev/null; then
	  echo "sysdeps: not a Debian system; install the equivalents of the packages in" \
	       "docs/dependencies.md yourself." >&2
	  exit 0
	fi
	want="$(SYSDEPS) $(SYSDEPS_INSTALLER) $(SYSDEPS_BROWSER) $(SYSDEPS_CLUSTER)"
	if ! command -v npm >/dev/null; then want="$$want nodejs npm"; fi
	# Debian's own python3 ships venv's pip bootstrap separately (python3-venv).
	if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then want="$$want python3-venv"; fi
	installed="$$(dpkg-query -W -f='$${Package} $${db:Status-Status}\n' $$want 2>/dev/null \
	  | awk '$$2 == "installed" { print $$1 }' || true)"
	missing=""
	for p in $$want; do
	  grep -qxF "$$p" <<<"$$installed" || missing="$$missing $$p"
	done
	missing="$${missing# }"
	if [ -z "$$missing" ]; then exit 0; fi
	if [ "$$(id -u)" != 0 ]; then
	  echo "sysdeps: missing Debian packages. Install them with:" >&2
	  echo "  sudo apt-get install -y --no-install-recommends $$missing" >&2
	  exit 1
	fi
	echo "sysdeps: installing $$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends $$missing

venv: $(STAMP)

# Test-only JavaScript (never served): exactly what the lock file names, nothing newer.
$(A11Y): tests/a11y/package.json tests/a11y/package-lock.json
	@npm ci --prefix tests/a11y --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then
	  if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then $(MAKE) sysdeps; fi
	  echo "venv: creating $(VENV) with $$(command -v $(PYTHON))"
	  $(PYTHON) -m venv $(VENV)
	fi
	pip_flags="--disable-pip-version-check"
	if [ -n "$${CI:-}" ]; then pip_flags="$$pip_flags --progress-bar off"; fi
	$(BIN)/python -m pip install $$pip_flags --upgrade pip
	$(BIN)/python -m pip install $$pip_flags -e '.[test,installer]'
	touch $@

# Runs every check even after one fails, so one run shows everything to fix.
test: sysdeps venv $(A11Y)
	@failed=""
	echo "== ruff check";          $(BIN)/ruff check . || failed="$$failed ruff-check"
	echo "== ruff format --check"; $(BIN)/ruff format --check . || failed="$$failed ruff-format"
	echo "== mypy";                $(BIN)/mypy || failed="$$failed mypy"
	echo "== lint-imports";        $(BIN)/lint-imports --no-cache || failed="$$failed lint-imports"
	# asyncio's debug mode: a coroutine never awaited, a callback on the wrong thread or a
	# slow callback is reported instead of passing silently.
	export PYTHONASYNCIODEBUG=1
	# Two processes: Qt's QApplication (and QtWebEngine) lives only in the GUI run, so the
	# relay and client suites never process stray Qt events left by a widget test.
	echo "== pytest: unit and integration"
	$(HEADLESS) $(BIN)/python -m pytest tests/unit tests/integration $(PYTEST_ARGS) || failed="$$failed pytest"
	echo "== pytest: gui"
	$(HEADLESS) $(BIN)/python -m pytest tests/gui $(PYTEST_ARGS) || failed="$$failed pytest-gui"
	if [ -n "$$failed" ]; then echo "FAILED:$$failed" >&2; exit 1; fi
	echo "all checks passed"

lint: venv
	@failed=""
	$(BIN)/ruff check . || failed="$$failed ruff-check"
	$(BIN)/ruff format --check . || failed="$$failed ruff-format"
	$(BIN)/mypy || failed="$$failed mypy"
	$(BIN)/lint-imports --no-cache || failed="$$failed lint-imports"
	if [ -n "$$failed" ]; then echo "FAILED:$$failed" >&2; exit 1; fi

format: venv
	@$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# With no display, prove the console starts anyway: offscreen, a screenshot, then quit.
run: sysdeps venv
	@if [ "$$(id -u)" = 0 ]; then export QTWEBENGINE_DISABLE_SANDBOX=1; fi
	if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then
	  exec $(BIN)/lookout $(RUN_ARGS)
	fi
	echo "run: no DISPLAY or WAYLAND_DISPLAY, so the console cannot open a window here."
	echo "run: running it offscreen for 20 s instead; screenshot in out.png."
	$(HEADLESS) $(BIN)/lookout $(RUN_ARGS) --screenshot out.png --quit-after 20
	echo "run: wrote out.png"

# bench/_*.py are shared helpers, not benchmarks. Runs all, fails at the end if any did.
bench: sysdeps venv
	@failed=""
	shopt -s nullglob
	for f in bench/[!_]*.py; do
	  echo "== $$f"
	  $(HEADLESS) $(BIN)/python "$$f" || failed="$$failed $$f"
	done
	if [ -n "$$failed" ]; then echo "FAILED:$$failed" >&2; exit 1; fi

# The desktop bundle (installer/lookout.spec: every [project.scripts] command in one folder
# sharing one _internal/), then dist/lookout-$(VERSION)-linux-$(ARCH).tar.gz of it.
# installer/build.py runs `pyinstaller --noconfirm --clean --workpath build/pyinstaller
# installer/lookout.spec` and tar; it prints the build time and sizes as JSON.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml | head -n 1)
ARCH := $(shell uname -m)
TARBALL := dist/lookout-$(VERSION)-linux-$(ARCH).tar.gz

installer: sysdeps venv
	@$(BIN)/python installer/build.py
	# the .deb around the bundle: /opt/lookout, the desktop entry, the relay's service;
	# Depends: the Debian libraries `make sysdeps` installs for Qt
	$(BIN)/python installer/deb.py --bundle dist/lookout --version $(VERSION) \
	    --depends "$(SYSDEPS)" --out dist/
	echo "installer: dist/lookout/, $(TARBALL) and dist/lookout_$(VERSION)_amd64.deb"

# Builds fresh, then tests/installer/ runs the bundled commands from a temporary directory
# outside the checkout, with no venv on PATH (it reuses dist/ as it is newer than the sources).
test-installer: installer
	@$(BIN)/python -m pytest tests/installer -m installer $(PYTEST_ARGS)

clean:
	@rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis out.png
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	@rm -rf $(VENV) tests/a11y/node_modules
