# Two commands matter: `make demo` runs the main job on the embedded SQLite
# default; `make test` runs the whole test suite. Each builds .venv first.

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STATE ?= $(CURDIR)/.state/demo
# Extra config files for the demo, e.g. DEMO_CONFIG=etc/demo/mysql.conf
# or DEMO_CONFIG="etc/demo/postgresql.conf etc/demo/rabbit.conf".
DEMO_CONFIG ?=

.PHONY: venv demo test unit functional lint sample-config bench clean

venv: $(STAMP)

# The MySQL and PostgreSQL drivers are the package's extras
# (nova_cells[mysql], nova_cells[postgresql]); the tests use both.
EXTRAS := mysql,postgresql
PIP_INSTALL := $(VENV_PYTHON) -m pip install --quiet -c constraints.txt

$(STAMP): requirements.txt test-requirements.txt setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -r requirements.txt -r test-requirements.txt
	$(PIP_INSTALL) -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	NOVA_CELLS_STATE_PATH=$(DEMO_STATE) $(VENV_PYTHON) -m nova_cells.demo \
		$(foreach file,$(DEMO_CONFIG),--config-file $(file))

# Test processes (pytest-xdist): most of a functional test's time is a
# console script in a subprocess, so two workers keep both cores busy.
# Each test module stays in one worker (--dist loadfile); every test makes
# its own databases, queues' topics and temporary directories.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VENV)/bin/ruff check nova_cells benchmarks
	$(VENV_PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadfile nova_cells/tests

unit: $(STAMP)
	$(VENV_PYTHON) -m pytest -q nova_cells/tests/unit

functional: $(STAMP)
	$(VENV_PYTHON) -m pytest -q nova_cells/tests/functional

lint: $(STAMP)
	$(VENV)/bin/ruff check nova_cells benchmarks

sample-config: $(STAMP)
	$(VENV)/bin/oslo-config-generator --namespace nova_cells \
		--output-file etc/nova_cells.conf.sample

bench: $(STAMP)
	$(VENV_PYTHON) benchmarks/run.py

clean:
	rm -rf $(VENV) .state

# Sphinx documentation into doc/build/html; any warning fails the build.
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: docs

$(DOCS_STAMP): $(STAMP) doc/requirements.txt constraints.txt
	$(PIP_INSTALL) -r doc/requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(VENV_PYTHON) -m sphinx -W --keep-going -b html doc/source doc/build/html
