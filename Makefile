# Two commands a newcomer needs:
#   make demo   install, then bring the bundled quickstart up on the local stack and send it requests
#   make test   install with the dev tools, then run ruff and the docs build, and mypy beside the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TEST_WORKERS ?= 4
# the package's folders (pyproject.toml's package-dir). `make test` compiles their bytecode first: the
# editable install imports them from here, and where PYTHONDONTWRITEBYTECODE is set (this machine and CI
# set it) each of the ~900 Python processes the tests start would otherwise compile every module it imports
# (a `plan` of the quickstart: 0.33 s of CPU without, 0.24 s with)
PACKAGE_DIRS := modelplane compiler specs runtime stacks templates

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

# the docs site is part of lint: --strict fails on a broken link or anchor and on a page left out of the
# nav (mkdocs.yml's validation); ~3 s, nothing fetched from the network
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# ruff and the docs site first (seconds; a failure stops before the tests), then mypy (strict, one core, ~2.5 min)
# runs beside the tests; either failing fails `make test`, and mypy's report is printed after the tests.
# Four workers on two cores: the integration tests spend most of their time waiting (canary windows,
# pauses, processes starting), so two more workers fill the idle cores (2 workers: ~9.7 min of tests;
# 4: ~7 min in all, the cores ~93% busy). Each worker takes whole files (--dist loadfile):
# files keep their own order (module-scoped fixtures assume it). TEST_WORKERS=2 on a loaded machine.
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m compileall -q -j 0 $(PACKAGE_DIRS) > /dev/null
	@$(BIN)/python tools/typecheck.py > .typecheck.log 2>&1 & typecheck=$$!; \
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile; tests=$$?; \
	wait $$typecheck; types=$$?; echo "--- mypy (tools/typecheck.py)"; cat .typecheck.log; \
	[ $$types -eq 0 ] || echo "mypy failed: fix the errors above (make lint runs it alone)" >&2; \
	[ $$tests -eq 0 ] && [ $$types -eq 0 ]

# the unit tests only (no real processes, Temporal or PostgreSQL): a quick check while editing
test-fast: install-dev
	$(BIN)/python -m compileall -q -j 0 $(PACKAGE_DIRS) > /dev/null
	$(BIN)/python -m pytest -q -m "not integration" -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/bench_compile.py --nodes 1000 10000

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
