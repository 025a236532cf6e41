# The two commands that matter: `make run` (the product, locally) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
BENCH := $(VENV)/.bench-installed

.PHONY: run streams test unit test-faults system-packages lint bench screenshot clean

$(RUNTIME): requirements.txt include/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r include/requirements.txt
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(BENCH): $(RUNTIME) include/bench-requirements.txt
	$(PY) -m pip install --quiet -r include/bench-requirements.txt
	touch $@

run: $(RUNTIME)
	$(PY) include/run_local.py

# Several streams: check the streams file (dags/auth0_streams.yaml, or AUTH0_WEBHOOKS_STREAMS_FILE), write a DAG
# file for each stream that has none, and print the pool each tenant's reads share (README, "Several streams").
streams: $(RUNTIME)
	PYTHONPATH=plugins $(PY) -m auth0_provider.streams dags

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# PostgreSQL and Redis (Debian packages) for the production-topology tests; installs only what is missing.
system-packages:
	bash tests/system-packages.sh

test: lint system-packages
	$(VENV)/bin/pytest -m "not faults"

# The fast loop: the pure modules, the hooks and the local servers; no Airflow DB, no scheduler (seconds).
unit: $(DEV)
	$(VENV)/bin/pytest -q tests/plugins tests/include -m "not scheduler and not faults" -p no:cacheprovider \
		--ignore=tests/include/test_local_airflow.py

# The fault-injection suite: each fault one test, reported in docs/reliability.md.
test-faults: $(DEV) system-packages
	$(VENV)/bin/pytest -m faults

# Throughput, BATCH_SIZE=1 at the per-run cap, 1 MB events, and 100,000-event drains under Auth0 Professional
# and Enterprise read limits, on a real Airflow; rewrites docs/benchmarks.md, docs/benchmarks.png and
# docs/benchmarks-scaling.png. About 50 minutes; the Professional drain alone is bounded below by the read
# limit (10 minutes). One scenario again, keeping the other figures: .venv/bin/python include/benchmark.py --only cap,big
bench: $(BENCH)
	$(PY) include/benchmark.py

# The README's picture of the status page (docs/status-page.png), from the browser test's stack.
screenshot: $(DEV) system-packages
	STATUS_PAGE_SCREENSHOT=docs/status-page.png $(VENV)/bin/pytest -q tests/dags/test_stream_status.py -k status_page_shows

clean:
	rm -rf $(VENV) .airflow
