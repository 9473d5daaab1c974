#!/usr/bin/env bash
# Set up and serve the bookshop demo on the embedded default (SQLite) with
# uvicorn on 127.0.0.1, printing the URL. Extra arguments go to the demo:
#   scripts/demo.sh --load        oneloop vs stock Django, requests/s
#   scripts/demo.sh --workers 2   two worker processes behind one port
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python examples/bookshop/demo.py "$@"
