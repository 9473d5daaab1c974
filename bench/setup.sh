#!/usr/bin/env bash
# Set up what the benchmark suite needs: wrk (Debian package) and the Python
# packages of bench/requirements.txt, into the virtualenv at $VENV (default
# .venv next to this repository's pyproject.toml, created if missing).
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
"$venv/bin/pip" install -q -e "$here[postgresql,uvicorn]" -r "$here/bench/requirements.txt"
echo "ready: $venv/bin/python -m bench run --quick"
