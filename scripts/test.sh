#!/usr/bin/env bash
# Set up and run every test on each Python and Django CI runs
# (compat/matrix.py): lint; oneloop's suite on PostgreSQL and on SQLite on
# every combination (and on MariaDB on the main one); the benchmark suite's own tests; Django's own test suite
# (its CI labels) on oneloop's ENGINEs, on the combinations and in the modes
# the matrix lists. Any failure on any combination fails the run. PostgreSQL
# MariaDB and Redis must be running (.ci/run starts them).
#
# Each combination has its own virtualenv (.venv for the main one,
# .venv-django6.0, ...) and its own test databases: their names end with the
# Django version, after ONELOOP_TEST_PG_NAME / ONELOOP_COMPAT_DB_TAG when set.
set -euo pipefail
cd "$(dirname "$0")/.."
begun=$SECONDS

step() { # step TITLE COMMAND...: run COMMAND under a heading, say how long it took
    echo "== $1"
    local started=$SECONDS
    shift
    "$@"
    echo "== ($((SECONDS - started)) s)"
}

# "python django venv databases compat-runs" per line, the main combination
# first.
matrix=$(python3 -m compat.matrix ci)
main_venv=$(sed -n 1p <<<"$matrix" | cut -d' ' -f3)
combos=()
while read -r version django venv dbs runs; do
    if [ "$venv" = "$main_venv" ] || [ -x "$venv/bin/python" ] ||
        python3 -m compat.matrix python "$version" >/dev/null; then
        combos+=("$version $django $venv $dbs $runs")
    elif [ "${CI:-}" = true ]; then
        exit 1 # compat.matrix said which Python is missing and how to install it
    else
        echo "!! Django $django left out: no Python $version here (CI fails on this)"
    fi
done <<<"$matrix"

for combo in "${combos[@]}"; do
    read -r version django venv _ <<<"$combo"
    step "set up $venv (Python $version, Django $django)" scripts/setup.sh test "$django"
done

step "lint" sh -c "$main_venv/bin/ruff check . && $main_venv/bin/ruff format --check ."

suffix() { # the test databases' suffix of a virtualenv
    [ "$1" = "$main_venv" ] || echo "_django${2//./_}"
}

for combo in "${combos[@]}"; do
    read -r version django venv dbs _ <<<"$combo"
    pg_name="${ONELOOP_TEST_PG_NAME:-test_oneloop}$(suffix "$venv" "$django")"
    for db in ${dbs//,/ }; do
        step "oneloop's tests on $db, Django $django, Python $version" \
            env ONELOOP_TEST_DB="$db" ONELOOP_TEST_PG_NAME="$pg_name" \
            "$venv/bin/python" -m pytest "$@"
    done
done

step "the benchmark suite's own tests" "$main_venv/bin/python" -m pytest bench/tests -q

# Django's own test suite, CI labels, on oneloop's ENGINEs (python -m compat).
# Deviations, each with its reason, are in compat/deviations.py and the
# backends' features; docs/compatibility.md has the counts.
for combo in "${combos[@]}"; do
    read -r version django venv _ runs <<<"$combo"
    tag="${ONELOOP_COMPAT_DB_TAG:-compat_oneloop}$(suffix "$venv" "$django")"
    for run in ${runs//,/ }; do
        [ "$run" != - ] || continue
        step "Django's CI labels on ${run%:*}, ${run#*:} mode, Django $django" \
            env ONELOOP_COMPAT_DB_TAG="$tag" "$venv/bin/python" -m compat run \
            --backend "${run%:*}" --mode "${run#*:}" --parallel 2 --no-record
    done
done

echo "== all passed in $((SECONDS - begun)) s"
