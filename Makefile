# The two commands of the README. Both do all set-up first (Debian packages when root, .venv, the package).
PY := .venv/bin/python
DEMO_DIR ?= var/demo
DEMO_DAYS ?= 60

.PHONY: setup demo test bench clean

setup:
	bash scripts/bootstrap.sh

demo: setup
	$(PY) run_robots.py demo --workdir $(DEMO_DIR) --days $(DEMO_DAYS)

test: setup
	bash scripts/ensure_postgres.sh
	$(PY) -m pytest

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
