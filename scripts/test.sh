#!/usr/bin/env bash
# Command 2: set up (with test tools), then run the whole test suite, lint and type checks.
# Extra arguments go to pytest (e.g. -k ingest, -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
echo "==> ruff"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "==> mypy --strict"
.venv/bin/mypy
echo "==> lint-imports (the layers and no cycles: [tool.importlinter] in pyproject.toml)"
.venv/bin/lint-imports
echo "==> pytest"
.venv/bin/pytest --durations=15 "$@"
# The records again on PostgreSQL: a fresh database per test on a throwaway local server. The
# database-level tests run (users, cases, notify with its triggers, index/scale); the model-heavy
# ones ran above already.
echo "==> pytest on PostgreSQL (database-level subset)"
NEXTOFKIN_TEST_DATABASE_URL="$(bash scripts/postgres-test-server.sh)"
# The throwaway server stops with the run (its data stay, so the next run starts fast); so does
# the local Ray cluster below.
trap 'bash scripts/postgres-test-server.sh stop; bash scripts/ray-cluster.sh stop' EXIT
export NEXTOFKIN_TEST_DATABASE_URL
status=0
.venv/bin/pytest "$@" -m "not models and not slow" tests/users tests/cases tests/notify tests/scale || status=$?
# Exit 5 means the caller's own selection (-k ...) left nothing to run here: not a failure.
[[ $status -eq 5 ]] && status=0
# The cluster ingest on a real Ray cluster: a head and one worker on this machine, started and
# stopped here (the `cluster` tests were skipped above, without an address).
echo "==> pytest on a local Ray cluster (cluster ingest)"
NEXTOFKIN_TEST_RAY_ADDRESS="$(bash scripts/ray-cluster.sh start 1)"
export NEXTOFKIN_TEST_RAY_ADDRESS
cluster_status=0
.venv/bin/pytest "$@" -m cluster tests/gallery/test_cluster_ingest.py || cluster_status=$?
[[ $cluster_status -eq 5 ]] && cluster_status=0
[[ $status -eq 0 ]] && status=$cluster_status
exit $status
