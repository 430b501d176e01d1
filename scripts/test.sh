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
echo "==> pytest"
exec .venv/bin/pytest "$@"
