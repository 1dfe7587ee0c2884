# Two commands a newcomer needs:
#   make demo   install, then bring the bundled quickstart up on the local stack and send it requests
#   make test   install with the dev tools, then run the lint step (ruff, mypy) and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast install install-dev lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,aws,gcp]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/modelplane validate -C examples/quickstart
	$(BIN)/modelplane graph -C examples/quickstart
	$(BIN)/modelplane plan -C examples/quickstart
	$(BIN)/modelplane apply --auto-approve -C examples/quickstart
	$(BIN)/modelplane load tiny-chat --qps 20 --duration 3 -C examples/quickstart
	$(BIN)/modelplane status -C examples/quickstart
	@echo "the quickstart is up; stop it with: $(BIN)/modelplane down -C examples/quickstart"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py

# lint is a prerequisite, not a test: ruff and mypy stay required, and a lint failure stops before
# the tests (make runs it once even when asked for `make lint test`). Two workers, each taking whole
# files (--dist loadfile): integration tests mostly wait on processes, and files keep their own order
# (Pulumi's mocks and module-scoped fixtures assume it); 21.5 min in one process, ~12-14 min in two.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the unit tests only (no real processes, Temporal or PostgreSQL): a quick check while editing
test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not integration" -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/bench_compile.py --nodes 1000 10000

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
