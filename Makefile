# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo
# Where `make demo` listens: `make demo PORT=8001` when 8000 is taken (python -m example_app
# --host/--port). The demo says so when the port is in use.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test quick lint typecheck install clean node screenshots bench docs docs-serve dist

# pip as a workshop room wants it: errors only (they still stop make), no progress bars, no
# "new pip available" notice; the venv's own pip is recent enough, so none is downloaded.
PIP := $(BIN)/python -m pip --disable-pip-version-check
PIP_QUIET := -qq --progress-bar off

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes. The package itself needs no extra; `dev` is every
# extra (redis, server, fastapi) and the test and docs tools, `demo` only what the demo runs
# (redis, uvicorn). The wheelhouse holds the wheels of the package's dependencies and of the demo
# extra's, downloaded here so that tests (tests/test_package.py) install the built wheel in a
# fresh venv without the network.
WHEELHOUSE := $(VENV)/wheelhouse
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install $(PIP_QUIET) -e '.[dev]'
	$(PIP) download $(PIP_QUIET) --dest $(WHEELHOUSE) '.[demo]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install $(PIP_QUIET) -e '.[demo]'
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m example_app --host $(HOST) --port $(PORT)

# The wheel and the sdist in dist/, as they would be published (make test builds and installs
# them too: tests/test_package.py).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist

lint: $(STAMP)
	$(BIN)/ruff check oidc_kit example_app examples tests bench tools
	$(BIN)/ruff format --check oidc_kit example_app examples tests tools

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict example_app examples

# Packages from the npm registry, each folder pinned by its package-lock.json and installed
# with `npm ci` (never at run time): $(call npm_ci,FOLDER,what happens without npm).
define npm_ci
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(1) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: $(2)"; fi
endef

# The interop tests' provider (panva's oidc-provider). Without Node the interop tests skip,
# except under CI=true.
INTEROP := tests/interop
NODE_STAMP := $(INTEROP)/node_modules/.installed
$(NODE_STAMP): $(INTEROP)/package-lock.json
	$(call npm_ci,$(INTEROP),the interop tests will skip)

# The browser tests' accessibility engine (axe-core). Without it the accessibility test skips,
# except under CI=true.
AXE_STAMP := tests/browser/node_modules/.installed
$(AXE_STAMP): tests/browser/package-lock.json
	$(call npm_ci,tests/browser,the accessibility test will skip)

# The docs site's diagrams: mermaid (see `docs` below). Without npm the docs build fails,
# saying why.
DOCS_NODE_STAMP := tools/node_modules/.installed
$(DOCS_NODE_STAMP): tools/package-lock.json
	$(call npm_ci,tools,the docs build needs mermaid from the npm registry (tools/))

node: $(NODE_STAMP) $(AXE_STAMP) $(DOCS_NODE_STAMP)

test: $(STAMP) $(NODE_STAMP) $(DOCS_NODE_STAMP) $(AXE_STAMP)
	$(BIN)/ruff check oidc_kit example_app tests bench tools
	$(BIN)/mypy
	$(BIN)/mypy --strict example_app
	$(MKDOCS) build --strict --quiet --site-dir "$$(mktemp -d)"
	$(BIN)/python -m pytest

# The quick loop while coding: every test but the slow ones (browser, interop, the few that
# start processes; see tests/markers.py), under a minute on a 2-core machine.
quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

# The documentation site (mkdocs-material): `make docs` builds it into site/, which works with
# no network, opened from disk or served; `make docs-serve` serves it with live reload at
# http://127.0.0.1:8001. Its diagrams' script, mermaid, comes from the npm registry, pinned by
# tools/package-lock.json (installed above, with the test target's); tools/docs_offline.py copies
# it into the site (the build fails without it, rather than fall back to a CDN).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
docs: $(STAMP) $(DOCS_NODE_STAMP)
	$(MKDOCS) build --strict

docs-serve: $(STAMP) $(DOCS_NODE_STAMP)
	$(MKDOCS) serve --dev-addr 127.0.0.1:8001

# Benchmarks (bench/run.py): the table, and docs/performance.md on a full run (~10 minutes,
# uses wrk when installed). QUICK=1: tiny counts, a few seconds, only proves the bench runs.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(filter 1,$(QUICK)),--quick,)

# Retake the README's and the workshop guide's screenshots (docs/screenshots/).
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
