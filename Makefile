# nexus-sync — the README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test test-fast dev-up dev-down lint clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install nexus-sync with its dev tools

demo: $(STAMP)  ## real syncs on the embedded stack: CrowdStrike 5,000 hosts + Okta 2,000 users, twice
	$(BIN)/nexus-sync demo

test: $(STAMP)  ## the test suite on the embedded stack (starts and stops its own servers)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## tests without the worker-kill test
	$(BIN)/python -m pytest -q --deselect tests/tasks/test_worker_kill.py

dev-up: $(STAMP)  ## start the embedded dev stack and print its URLs
	$(BIN)/nexus-sync dev up

dev-down: $(STAMP)  ## stop the embedded dev stack
	$(BIN)/nexus-sync dev down

clean:  ## stop the dev stack and remove .venv and .nexus
	-$(BIN)/nexus-sync dev down
	rm -rf $(VENV) .nexus
