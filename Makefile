# The two commands of the README: `make up` (run the stack) and `make test` (pass the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: up down test unit lint typecheck bench bench-pipeline bench-ingest bench-bulk bench-decisions bench-archive bench-portal bench-limits bench-restart bench-replicas bench-import bench-latency bench-profile bench-mail bench-previews chaos setup bench-evidence bench-integrity

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11+ is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python -m devstack.prepare

up: setup
	$(BIN)/eakte up

down:
	$(BIN)/eakte down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/python -m devstack.prepare --postgres --browser --compose
	$(MAKE) lint
	$(BIN)/mypy
	$(BIN)/python -m pytest tests/unit tests/integration tests/e2e

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Benchmarks write JSON to bench-results/; they measure, they never fail on a figure.
bench: bench-pipeline bench-ingest bench-decisions bench-archive bench-portal

bench-pipeline: setup
	$(BIN)/python -m tests.bench.pipeline --documents $${N:-500} --output bench-results/pipeline.json

# Open loop: RATE documents/s for DURATION s, half approved at once by a scripted approver (p50/p95/p99).
bench-latency: setup
	$(BIN)/python -m tests.bench.latency --rate $${RATE:-20} --seconds $${DURATION:-60} --output bench-results/latency.json

# CPU per document per process, and py-spy stacks of each service (bench-results/profile/).
bench-profile: setup
	$(BIN)/python -m tests.bench.profile --documents $${N:-1000} --output bench-results/profile.json

bench-ingest: setup
	$(BIN)/python -m tests.bench.ingest --output bench-results/ingest.json

bench-bulk: setup
	$(BIN)/python -m tests.bench.bulk --files $${FILES:-10000} --upload $${UPLOAD:-1000} --output bench-results/bulk.json

bench-decisions: setup
	$(BIN)/python -m tests.bench.decisions --decisions $${DECISIONS:-1000} --output bench-results/decisions.json

bench-archive: setup
	$(BIN)/python -m tests.bench.archive --documents $${N:-200} --search-corpus $${SEARCH_CORPUS:-10000} --output bench-results/archive.json

bench-evidence: setup
	$(BIN)/python -m tests.bench.evidence --packages $${N:-1000} --output bench-results/evidence.json

bench-restart: setup
	$(BIN)/python -m tests.bench.restart --rounds $${ROUNDS:-3} --output bench-results/restart.json

bench-limits: setup
	$(BIN)/python -m tests.bench.limits --mib $${MIB:-120} --output bench-results/limits.json

bench-portal: setup
	$(BIN)/python -m devstack.prepare --browser
	$(BIN)/python -m tests.bench.portal --loads $${LOADS:-20} --output bench-results/portal.json

# Not part of `make test` (long): faults while N documents flow; exits non-zero when anything was lost or doubled.
chaos: setup
	$(BIN)/python -m tests.bench.chaos --documents $${N:-1000} --replicas $${REPLICAS:-2} --output bench-results/chaos.json

# `eakte import` of a generated delivery of FILES scans: files/s, ingest and archive RSS, doubles, failed rows.
bench-import: setup
	$(BIN)/python -m tests.bench.import_bench --files $${FILES:-20000} --output bench-results/import.json

bench-replicas: setup
	$(BIN)/python -m tests.bench.replicas --documents $${N:-500} --output bench-results/replicas.json

# The Poststelle mailbox: a message from IMAP APPEND to its filed documents, one at a time and in a burst.
bench-mail: setup
	$(BIN)/python -m tests.bench.mail --messages $${N:-10} --burst $${BURST:-20} --output bench-results/mail.json
# An online Wohngeld application (FIT-Connect, local Submission API): time from submission to accept-submission.
.PHONY: bench-fitconnect
bench-fitconnect: setup
	$(BIN)/python -m tests.bench.fitconnect --submissions $${N:-20} --output bench-results/fitconnect.json
# Scheduled fixity rate (packages/s) and integrity report latency (JSON, PDF).
bench-integrity: setup
	$(BIN)/python -m tests.bench.integrity --documents $${N:-100} --output bench-results/integrity.json

.PHONY: bench-inbox
bench-inbox: setup
	$(BIN)/python -m tests.bench.inbox --tasks $${N:-500} --bulk $${BULK:-100} --output bench-results/inbox.json
bench-previews: setup
	$(BIN)/python -m tests.bench.previews --documents $${N:-20} --output bench-results/previews.json
.PHONY: bench-notify
bench-notify: setup
	$(BIN)/python -m tests.bench.notify
# The search for clerks and approvers: p50/p99 of GET /api/v1/search with facets over N documents (default 10,000).
.PHONY: bench-search
bench-search: setup
	$(BIN)/python -m tests.bench.search --documents $${N:-10000} --rounds $${ROUNDS:-50} --output bench-results/search.json
