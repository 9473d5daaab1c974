#!/usr/bin/env bash
# The benchmark suite in one command, from a clean clone:
#
#     bash bench/run.sh --quick        # or --full, or any `python -m bench run` option
#
# Runs bench/setup.sh (wrk, the virtualenv and its packages; it skips what is
# already done), starts the local PostgreSQL cluster when it is installed but
# down, then `python -m bench run` with this script's arguments.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"

bash "$here/bench/setup.sh"

host="${BENCH_PG_HOST:-127.0.0.1}"
port="${BENCH_PG_PORT:-5432}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h "$host" -p "$port"; then
    if { [ "$host" = 127.0.0.1 ] || [ "$host" = localhost ]; } \
        && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "PostgreSQL is down: starting the local cluster"
        sudo_cmd=""
        [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
        $sudo_cmd pg_ctlcluster --skip-systemctl-redirect \
            "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
        for _ in $(seq 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
    else
        echo "PostgreSQL does not answer at $host:$port (BENCH_PG_HOST/BENCH_PG_PORT)" >&2
        exit 1
    fi
fi

cd "$here"
exec "$venv/bin/python" -m bench run "$@"
