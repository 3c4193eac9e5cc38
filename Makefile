# The two commands a newcomer needs: `make run` and `make test`.
# Each installs what it needs: Debian packages for the data planes, a .venv
# with MetaPaaS and the bundled plugins.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
# Two test processes, a test file each at a time: most suites wait on real servers
# and nodes, so the two cores are busy with two of them (PYTEST_ARGS= runs one).
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: run test lint typecheck system-deps database

$(STAMP): pyproject.toml $(PLUGINS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "MetaPaaS needs Python >= 3.11 as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach p,$(patsubst %/,%,$(dir $(PLUGINS))),-e './$(p)[test]')
	touch $(STAMP)

system-deps:
	scripts/ensure-system-deps.sh

database:
	scripts/ensure-postgres.sh

run: system-deps $(STAMP)
	$(BIN)/metapaas up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy src $(wildcard plugins/*/src)

test: system-deps database $(STAMP) lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)
