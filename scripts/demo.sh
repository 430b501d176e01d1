#!/usr/bin/env bash
# Command 1: set up, then run the main job end to end on the embedded default (SQLite + FAISS):
# build a gallery from ../shared/datasets/lfw, ingest it, identify a rotated, darkened photo.
# Extra arguments go to `nextofkin demo` (e.g. --faces DIR --photos 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NEXTOFKIN_HOME="${NEXTOFKIN_HOME:-$PWD/workspace}"
exec .venv/bin/nextofkin demo "$@"
