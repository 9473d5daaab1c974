#!/bin/sh
# Set up and serve the bookshop demo from a fresh clone:
#   sh examples/run.sh            # venv, install, migrate, sample data, serve
#   sh examples/run.sh --load     # then: req/s of oneloop vs stock Django
# Uses the active virtualenv if there is one, else creates .venv here.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY=python
else
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PY=.venv/bin/python
fi
extras="postgresql,redis,uvicorn,channels"
modules="oneloop, uvicorn, psycopg, psycopg_pool, redis, channels"
case "${DATABASE_URL:-}" in
mysql://* | mariadb://*)
    # mysqlclient builds against libmariadb-dev (docs/mysql.md).
    extras="$extras,mysql"
    modules="$modules, MySQLdb, asyncmy"
    ;;
esac
if ! "$PY" -c "import $modules" 2>/dev/null; then
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -e ".[$extras]"
fi
exec "$PY" examples/bookshop/demo.py "$@"
