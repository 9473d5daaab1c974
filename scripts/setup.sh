#!/usr/bin/env bash
# Create a virtualenv (if missing) and install django-oneloop with the given
# extras and the Django of one combination CI runs (compat/matrix.py).
# Usage: scripts/setup.sh [extras] [django]
#   scripts/setup.sh test       .venv: the main combination (Python 3.11, Django 5.2)
#   scripts/setup.sh test 6.1   .venv-django6.1: Django 6.1 on its CI Python
# The Python comes from PATH or pyenv; PYTHON=/path/to/python overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
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
case ",$extras," in
*,test,*)
    # GeoDjango's tests (tests/gis, Django's gis_tests) load GDAL and GEOS,
    # and need PostGIS in the local PostgreSQL server.
    gis=""
    has_library() {
        python3 -c "import ctypes.util as u; assert u.find_library('$1')" 2>/dev/null
    }
    has_library gdal || gis="$gis gdal-bin"
    has_library geos_c || gis="$gis libgeos-c1v5"
    for pg in $(ls /etc/postgresql 2>/dev/null); do
        [ -f "/usr/share/postgresql/$pg/extension/postgis.control" ] ||
            gis="$gis postgresql-$pg-postgis-3"
    done
    if [ -n "$gis" ]; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "Installing:$gis (for GeoDjango)"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $gis >/dev/null
        else
            echo "GeoDjango's tests need:$gis. Without them they skip" \
                "(and fail under CI=true): install them" >&2
        fi
    fi
    ;;
esac
combo=$(python3 -m compat.matrix ci ${2:+"$2"} | sed -n 1p)
read -r version django venv _ <<<"$combo"
if [ ! -x "$venv/bin/python" ]; then
    python="${PYTHON:-$(python3 -m compat.matrix python "$version")}"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
"$venv/bin/python" -m pip install --quiet -e ".[${extras}]" "django~=${django}.0"
