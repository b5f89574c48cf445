# The two commands of the README. Both do all set-up first (Debian packages when root, .venv, the package).
PY := .venv/bin/python
DEMO_DIR ?= var/demo
DEMO_DAYS ?= 60

.PHONY: setup demo test lint bench clean

setup:
	bash scripts/bootstrap.sh

demo: setup
	$(PY) run_robots.py demo --workdir $(DEMO_DIR) --days $(DEMO_DAYS)

test: setup lint
	bash scripts/ensure_postgres.sh
	$(PY) -m pytest

# The house rules: style (ruff), the layers and the purity of the core (import-linter), types of the core, the
# store and the steps (mypy). Part of `make test`.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy robots/core robots/store robots/steps

bench: setup
	$(PY) bench/aging_bench.py
	$(PY) bench/sign_bench.py
	$(PY) bench/archive_bench.py
	$(PY) bench/bi_bench.py
	$(PY) bench/rest_bench.py
	$(PY) bench/ui_bench.py
	$(PY) bench/penalty_bench.py

clean:
	rm -rf var .pytest_cache .hypothesis
