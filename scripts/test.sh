#!/usr/bin/env bash
# Install gitversions with its test tools into .venv and run every check:
# ruff (lint and format), mypy (strict), pytest with branch coverage >= 90%, and
# the benchmark in --quick mode (a measurement: it fails only if it cannot run).
#
#   bash scripts/test.sh              # the whole suite (heavy suites skipped)
#   GITVERSIONS_BENCH=0 bash scripts/test.sh   # the same without the benchmark
#   bash scripts/test.sh --full       # also the heavy suites, at full size
#   bash scripts/test.sh -k restore   # any other pytest arguments pass through
#
# Needs Python >= 3.11 (python3, or set PYTHON) and git. Works from any directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/_venv.sh
source "$REPO/scripts/_venv.sh"

ensure_venv test
BIN="$VENV/bin"

step "ruff check"
"$BIN/ruff" check gitversions tests scripts

step "ruff format --check"
"$BIN/ruff" format --check gitversions tests scripts

step "mypy (strict)"
"$BIN/mypy"

step "servers for the remote tests (sshd, lighttpd: Debian packages, if missing)"
# Best effort: where they cannot be installed, the tests that need them skip
# and say which program is missing.
bash "$REPO/scripts/ci-deps.sh" || printf 'warning: could not install the test servers\n' >&2

step "pytest with branch coverage (must reach 90%)"
status=0
"$BIN/python" -m pytest --cov=gitversions --cov-branch --cov-report=term-missing \
    --cov-fail-under=90 "$@" || status=$?
if [ "$status" = 0 ] && [ "${GITVERSIONS_BENCH:-1}" != 0 ]; then
    step "benchmark, --quick sizes (rows P1-P13 of issues 5, 11 and 15; ratios against git)"
    if ! "$BIN/python" scripts/bench.py --quick; then
        printf '\nerror: the benchmark could not run (see above)\n' >&2
        exit 1
    fi
fi
case "$status" in
0) step "all checks passed" ;;
5)
    printf '\nerror: pytest collected no tests (exit status 5): check the arguments and tests/\n' >&2
    exit 5
    ;;
*)
    printf '\nerror: pytest failed (exit status %d)\n' "$status" >&2
    exit "$status"
    ;;
esac
