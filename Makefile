# nexus-sync — the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: help install audit lint demo test test-fast dev-up dev-down clean chaos bench bench-large stories

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# the versions come from the lock (pip constraints): every machine and CI install what was tested
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[dev,greenbone]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install nexus-sync with its dev tools and the greenbone extra, versions from requirements.lock

# pip-audit asks PyPI's JSON API per version (or OSV with AUDIT_FLAGS='-s osv'); where that cannot be
# reached it lists every package as "could not be audited" and exits 0: AUDIT_FLAGS=--strict makes it fail
audit: $(STAMP)  ## known advisories of the locked versions (pip-audit over requirements.lock)
	$(BIN)/pip-audit --requirement $(LOCK) --no-deps --disable-pip --progress-spinner off $(AUDIT_FLAGS)

lint: $(STAMP)  ## ruff over the code and the tests, mypy over the code ([tool.mypy] in pyproject); CI runs it
	$(BIN)/ruff check nexus_sync tasks connectors tests alembic
	$(BIN)/mypy

demo: $(STAMP)  ## real syncs on the embedded stack: CrowdStrike 5,000 hosts + Okta 2,000 users, twice
	$(BIN)/nexus-sync demo

test: $(STAMP)  ## the test suite in 2 processes, each on its own embedded stack (starts and stops its servers)
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --durations=20

test-fast: $(STAMP)  ## tests without the worker-kill test
	$(BIN)/python -m pytest -q -n 2 --dist loadscope --deselect tests/tasks/test_worker_kill.py

chaos: $(STAMP)  ## 7 connectors vs a faulty simulator, 2 worker SIGKILLs, Redis + Postgres restarts, ClickHouse + Kafka + webhook outages; report
	$(BIN)/nexus-sync chaos --crowdstrike 5000 --okta 2000 --outage-seconds 90 --out chaos/results

stories: $(STAMP)  ## complete? gone? changed? same machine? adaptive? — told through the CLI on its own stack
	$(BIN)/python examples/stories.py

bench: $(STAMP)  ## benchmark the real pipeline (100k records) on its own stack: bench/results/, bench/SUMMARY.md
	$(BIN)/nexus-sync bench

bench-large: $(STAMP)  ## worker RSS and throughput of a 1,000,000-record sync (adds a row to bench/SUMMARY.md)
	$(BIN)/nexus-sync bench --large 1000000

dev-up: $(STAMP)  ## start the embedded dev stack and print its URLs
	$(BIN)/nexus-sync dev up

dev-down: $(STAMP)  ## stop the embedded dev stack
	$(BIN)/nexus-sync dev down

clean:  ## stop the dev stack and remove .venv and .nexus
	-$(BIN)/nexus-sync dev down
	rm -rf $(VENV) .nexus

.PHONY: beat flower schedule test-ops
beat: $(STAMP)  ## Celery beat (RedBeat) on the dev stack: connector schedules from the connectors table
	$(BIN)/nexus-sync beat

flower: $(STAMP)  ## Flower on 127.0.0.1:5555 with basic auth (NEXUS_FLOWER_USER / NEXUS_FLOWER_PASSWORD)
	$(BIN)/nexus-sync flower

schedule: $(STAMP)  ## each connector's interval, offset, priority and next run (UTC)
	$(BIN)/nexus-sync schedule show

test-ops: $(STAMP)  ## the operations tests: beat schedules, Flower, the archive on a real ClickHouse server
	$(BIN)/python -m pytest -q tests/ops tests/archive
