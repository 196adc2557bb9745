# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test quick lint typecheck install clean node screenshots bench docs docs-serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes. The package itself needs no extra; `dev` is every
# extra (redis, server, fastapi) and the test and docs tools, `demo` what the demo runs on.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m example_app --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check oidc_kit example_app tests bench tools
	$(BIN)/ruff format --check oidc_kit example_app tests tools

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict example_app

# The interop tests' provider (panva's oidc-provider) comes from the npm registry, pinned by
# tests/interop/package-lock.json. Without Node the interop tests skip, except under CI=true.
INTEROP := tests/interop
NODE_STAMP := $(INTEROP)/node_modules/.installed

$(NODE_STAMP): $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the interop tests will skip"; fi

node: $(NODE_STAMP)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check oidc_kit example_app tests bench tools
	$(BIN)/mypy
	$(BIN)/mypy --strict example_app
	$(MKDOCS) build --strict --quiet --site-dir "$$(mktemp -d)"
	$(BIN)/python -m pytest

# The quick loop while coding: every test but the slow ones (browser, interop, the few that
# start processes; see tests/markers.py), under a minute on a 2-core machine.
quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

# The documentation site (mkdocs-material): `make docs` builds it into site/, `make docs-serve`
# serves it with live reload at http://127.0.0.1:8001.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs
docs: $(STAMP)
	$(MKDOCS) build --strict

docs-serve: $(STAMP)
	$(MKDOCS) serve --dev-addr 127.0.0.1:8001

# Benchmarks (bench/run.py): the table, and docs/performance.md on a full run (~3 minutes,
# uses wrk when installed). QUICK=1: tiny counts, a few seconds, only proves the bench runs.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(filter 1,$(QUICK)),--quick,)

# Retake the README's and the workshop guide's screenshots (docs/screenshots/).
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
