# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run).
#
# ensure_venv EXTRAS  creates or refreshes the virtualenv at $REPO/.venv with
# $PYTHON (default python3, which must be 3.11 or newer) and installs the
# package in editable mode, with EXTRAS ("test") or without (""). The install
# is skipped when neither pyproject.toml nor the interpreter changed since the
# last one; GITVERSIONS_REINSTALL=1 forces it.

PYTHON="${PYTHON:-python3}"
VENV="$REPO/.venv"

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

step() {
    printf '\n==> %s\n' "$*"
}

# Prints "<major>.<minor>.<micro> <base prefix>" for the interpreter $1.
_python_identity() {
    "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix)' \
        2>/dev/null
}

ensure_venv() {
    local extras="$1" wanted have spec stamp digest
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "'$PYTHON' not found: install Python 3.11 or newer, or set PYTHON=/path/to/python3.11"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
        die "$("$PYTHON" -V 2>&1 || echo "$PYTHON") is too old: gitversions needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"
    wanted="$(_python_identity "$PYTHON")" || die "cannot run $PYTHON"

    have=""
    if [[ -x "$VENV/bin/python" ]]; then
        have="$(_python_identity "$VENV/bin/python" || true)"
    fi
    if [[ "$have" != "$wanted" ]]; then
        if [[ -e "$VENV" ]]; then
            step "recreating $VENV (it was made by another or a broken interpreter)"
            rm -rf "$VENV"
        else
            step "creating $VENV with $("$PYTHON" -V 2>&1)"
        fi
        "$PYTHON" -m venv "$VENV" ||
            die "could not create a virtualenv with $PYTHON (on Debian/Ubuntu: apt-get install python3-venv)"
    fi

    spec="."
    [[ -n "$extras" ]] && spec=".[$extras]"
    digest="$(cat "$REPO/pyproject.toml" <(echo "$wanted") | "$PYTHON" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
    stamp="$VENV/.installed-${extras:-base}"
    # The test extras include everything the base install has.
    if [[ "${GITVERSIONS_REINSTALL:-0}" != 1 ]] &&
        { [[ "$(cat "$stamp" 2>/dev/null)" == "$digest" ]] ||
            { [[ -z "$extras" ]] && [[ "$(cat "$VENV/.installed-test" 2>/dev/null)" == "$digest" ]]; }; }; then
        step "using $VENV (up to date; GITVERSIONS_REINSTALL=1 to reinstall)"
        return 0
    fi
    step "installing gitversions ($spec) into $VENV"
    rm -f "$VENV"/.installed-*
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --editable "$spec" || die "pip install -e '$spec' failed"
    printf '%s\n' "$digest" >"$stamp"
}
