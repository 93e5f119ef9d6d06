#!/usr/bin/env bash
# Install gitversions into .venv and run the demo end to end (scripts/demo.py):
# a sample skill is snapshotted three times with edits between, then shown with
# log, diff, show, export and verify, and finally read with the real git CLI.
#
#   bash scripts/demo.sh      # leaves its files in ./demo-store/ to look around
#
# Needs Python >= 3.11 (python3, or set PYTHON) and git. Works from any directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/_venv.sh
source "$REPO/scripts/_venv.sh"

ensure_venv ""
step "running scripts/demo.py"
exec "$VENV/bin/python" "$REPO/scripts/demo.py" "$@"
