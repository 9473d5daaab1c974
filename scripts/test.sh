#!/usr/bin/env bash
# Set up and run every test: lint, the suite on PostgreSQL, on SQLite and
# on MariaDB, the benchmark suite's own tests, and Django's own test suite on
# oneloop's ENGINEs. PostgreSQL, MariaDB and Redis must be running
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

echo "== oneloop's tests on MariaDB"
ONELOOP_TEST_DB=mysql "$py" -m pytest "$@"

echo "== the benchmark suite's own tests"
"$py" -m pytest bench/tests -q

echo "== Django's own test suite on oneloop's ENGINEs (python -m compat)"
# The CI labels: PostgreSQL in sync and in bridged mode, SQLite and MariaDB in
# sync mode.
# Deviations, each with its reason, are in compat/deviations.py and the
# backends' features; docs/compatibility.md has the counts.
"$py" -m compat run --backend postgresql --mode sync --parallel 2 --no-record
"$py" -m compat run --backend postgresql --mode bridged --parallel 2 --no-record
"$py" -m compat run --backend sqlite --mode sync --parallel 2 --no-record
"$py" -m compat run --backend mysql --mode sync --parallel 2 --no-record
