#!/usr/bin/env bash
# Set up and run every test: lint, the suite on PostgreSQL and on SQLite,
# the benchmark suite's own tests, and Django's own test suite against
# oneloop's ENGINEs (the CI label set). PostgreSQL and Redis must be running
# (.ci/run starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
py=.venv/bin/python

echo "== lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== oneloop's tests on PostgreSQL"
ONELOOP_TEST_DB=postgresql "$py" -m pytest "$@"

echo "== oneloop's tests on SQLite"
ONELOOP_TEST_DB=sqlite "$py" -m pytest "$@"

echo "== the benchmark suite's own tests"
"$py" -m pytest bench/tests -q -p no:django

if [ "${ONELOOP_SKIP_DJANGO_SUITE:-}" != "1" ]; then
    echo "== Django's own test suite against oneloop's ENGINEs"
    "$py" -m compat run --backend postgresql --mode sync
    "$py" -m compat run --backend postgresql --mode bridged
    "$py" -m compat run --backend sqlite --mode sync
fi
