#!/usr/bin/env bash
# Set up what the benchmark suite needs: wrk (Debian package) and the Python
# packages of bench/requirements.txt, into the virtualenv at $VENV (default
# .venv next to this repository's pyproject.toml, created if missing).
# Idempotent: a second run with nothing changed only checks and returns.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"

if ! command -v wrk >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        sudo_cmd=""
        [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        $sudo_cmd apt-get install -y -qq wrk
    else
        echo "wrk is missing: install it with your system's package manager" >&2
        exit 1
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# The packages are installed again only when pyproject.toml or
# bench/requirements.txt changed since the last set-up, or an import fails.
stamp="$venv/.bench-setup"
want="$(cat "$here/pyproject.toml" "$here/bench/requirements.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
    || ! "$venv/bin/python" -c "import sys, importlib.util as u; sys.exit(any(
        u.find_spec(m) is None for m in ('oneloop', 'psycopg_pool', 'uvicorn',
        'gunicorn', 'gevent', 'fastapi', 'sqlalchemy', 'psutil', 'matplotlib')))"; then
    "$venv/bin/pip" install -q -e "$here[postgresql,uvicorn]" -r "$here/bench/requirements.txt"
    echo "$want" >"$stamp"
fi
echo "ready: bash bench/run.sh --quick"
