# The two commands of the README: `make run` and `make test`. Each creates .venv when missing.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run serve test lint assets bench bench-scale bench-compare bench-load clean

# The browser assets of the web workspace (OpenLayers and our map code), bundled by esbuild into
# the package's static files; rebuilt when the lock file or the client code changes.
DIST = src/opengeomesh/web/static/dist
ASSETS = $(DIST)/workspace.js
NODE_STAMP = node_modules/.package-lock.json

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(ASSETS): $(NODE_STAMP) $(wildcard src/opengeomesh/web/client/*.js)
	npm run --silent build

assets: $(ASSETS)

run: $(STAMP) $(ASSETS)
	$(BIN)/opengeomesh demo --dir var/demo

serve: $(STAMP) $(ASSETS)
	$(BIN)/opengeomesh serve --data var/run --sample

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

# The test files spread over the cores (one file stays on one process, with its servers), then
# the load test alone, so that it measures the server and not the other tests.
TEST_PROCESSES ?= auto

test: lint $(ASSETS)
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile -m "not alone"
	$(BIN)/pytest -m alone

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py

# OpenGeoMesh against pygeoapi 0.21 and the in-memory limit (installs pygeoapi, wrk and
# mod_spatialite when missing; about 20 minutes): bench/compare.py, --quick for a trial.
bench-compare: $(STAMP)
	$(BIN)/python bench/compare.py

# 100 clients for 60 s against serve --workers 2 (reads, writes, share-token reads): bench/load.py.
bench-load: $(STAMP)
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache node_modules $(DIST) tests/artifacts
