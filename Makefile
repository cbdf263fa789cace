# Stratum — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
comma := ,

.PHONY: run test lint install install-dev migrate seed bench fuzz load cluster-test clean wrk

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

# Links in the e-mails the seed and the server send point at this server unless FRONTEND_URL says otherwise.
seed run: export FRONTEND_URL ?= http://127.0.0.1:$(PORT)
# ... and the mail they send lands as files under var/mail, not as ~1,300 lines on the console.
seed run: export EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	PORT=$(PORT) PY=$(PY) ./scripts/run.sh

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (ruff.toml: pyflakes, bugbear, import order, pyupgrade) and the layers contract (.importlinter,
# docs/architecture.md); CI fails on any finding.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratum_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13

# Benchmarks run on PostgreSQL (BENCH_DATABASE_URL; created and migrated when missing) and Redis (REDIS_URL, else
# BENCH_REDIS_URL: cache, limiter and the broker of the servers they start, as in production). The full run writes
# docs/benchmarks.md; `make bench BENCH=cdp` (or BENCH="cdp trust") writes var/bench/partial-*.md instead.
bench: install-dev wrk
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$${REDIS_URL:-$(BENCH_REDIS_URL)} $(PY) -m benchmarks.run $(subst $(comma), ,$(BENCH))

# wrk (Debian's package) drives the load test and the scaling bench's web part.
wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk (apt-get)"; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo "sudo -n"); \
	  $$SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq wrk >/dev/null; }; }

FUZZ_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratum_fuzz
FUZZ_EXAMPLES ?= 60

# The schema fuzz, longer and deeper than CI's (tests/fuzz): FUZZ_EXAMPLES per operation and auth, schemathesis'
# coverage phase, a fresh seed each run (printed; FUZZ_SEED=<n> replays one). Test database on PostgreSQL.
fuzz: install-dev
	DATABASE_URL=$(FUZZ_DATABASE_URL) FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_DEEP=1 \
		$(PY) -m pytest tests/fuzz -p no:cacheprovider $(PYTEST_ARGS)

LOAD_SECONDS ?= 30
# Load test (docs/load.md): gunicorn + PostgreSQL (LOAD_DATABASE_URL, default stratum_load, created and seeded when
# missing) + Redis (LOAD_REDIS_URL, default db 14), driven by wrk on loopback; wrk comes from Debian's packages.
load: install-dev wrk
	LOAD_SECONDS=$(LOAD_SECONDS) $(PY) scripts/load/run.py

CLUSTER_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/stratum_cluster
CLUSTER_PACKAGES = pgbouncer rabbitmq-server redis-server
# The production-shaped cluster (tests/cluster): PostgreSQL primary + streaming replica, PgBouncer, RabbitMQ, Redis,
# moto's S3, two gunicorn hosts, two workers and beat, all started and stopped by the test; the schema comes from the
# test database on CLUSTER_DATABASE_URL's server. Debian's packages are installed when missing (a missing one fails
# the run rather than skipping it). Minutes long; CLUSTER_TEST_LOGS=1 prints every process's output.
cluster-test: install-dev
	@missing=$$(for p in $(CLUSTER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing $$missing (apt-get)"; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo "sudo -n"); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; fi
	CLUSTER_TEST=1 DATABASE_URL=$(CLUSTER_DATABASE_URL) $(PY) -m pytest tests/cluster -p no:cacheprovider -rs $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
