# Stratum — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
comma := ,

.PHONY: run test install install-dev migrate seed bench fuzz load clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	PORT=$(PORT) PY=$(PY) ./scripts/run.sh

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratum_bench

# Benchmarks run on PostgreSQL (BENCH_DATABASE_URL; created and migrated when missing). The full run writes
# docs/benchmarks.md; `make bench BENCH=cdp` (or BENCH="cdp trust") writes var/bench/partial-*.md instead.
bench: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) -m benchmarks.run $(subst $(comma), ,$(BENCH))

FUZZ_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratum_fuzz
FUZZ_EXAMPLES ?= 60

# The schema fuzz, longer and deeper than CI's (tests/fuzz): FUZZ_EXAMPLES per operation and auth, schemathesis'
# coverage phase, a fresh seed each run (printed; FUZZ_SEED=<n> replays one). Test database on PostgreSQL.
fuzz: install-dev
	DATABASE_URL=$(FUZZ_DATABASE_URL) FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_DEEP=1 \
		$(PY) -m pytest tests/fuzz -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
