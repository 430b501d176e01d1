#!/usr/bin/env bash
# System packages from Debian, installed only when missing (needs root or sudo).
#   scripts/setup-system.sh         runtime packages
#   scripts/setup-system.sh --dev   plus what the test suite needs
set -euo pipefail

RUNTIME_PKGS=()
DEV_PKGS=()

# Areas append what they need below; keep each list one package per line.
# (none yet for the core engine: every model and library comes from PyPI wheels)
# web: the browser tests drive Debian's chromium through Playwright (never `playwright install`)
DEV_PKGS+=(chromium)
# Case reports (WeasyPrint renders PDFs with Pango; DejaVu covers Cyrillic):
RUNTIME_PKGS+=(
    libpango-1.0-0
    libpangoft2-1.0-0
    fonts-dejavu-core
)
# PostgreSQL server for the second test run (scripts/postgres-test-server.sh):
DEV_PKGS+=(
    postgresql
)

WANT=("${RUNTIME_PKGS[@]}")
[[ "${1:-}" == "--dev" ]] && WANT+=("${DEV_PKGS[@]}")
[[ ${#WANT[@]} -eq 0 ]] && exit 0

MISSING=()
for pkg in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$pkg")
done
[[ ${#MISSING[@]} -eq 0 ]] && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "==> installing system packages: ${MISSING[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
