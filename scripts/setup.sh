#!/usr/bin/env bash
# Create .venv (if missing) and install django-oneloop with the given extras.
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
python="${PYTHON:-python3}"
case ",$extras," in
*,test,* | *,mysql,*)
    # mysqlclient (the [mysql] extra, part of [test]) builds against the
    # MariaDB/MySQL client library, found through pkg-config.
    if ! pkg-config --exists libmariadb 2>/dev/null &&
        ! pkg-config --exists mysqlclient 2>/dev/null; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "Installing: libmariadb-dev pkg-config (for mysqlclient)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                libmariadb-dev pkg-config >/dev/null
        else
            echo "mysqlclient needs libmariadb-dev (or" \
                "default-libmysqlclient-dev) and pkg-config: install them" >&2
            exit 1
        fi
    fi
    ;;
esac
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
