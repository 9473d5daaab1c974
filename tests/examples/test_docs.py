"""Every code sample in the docs runs.

A fenced block opened with ```` ```python test ```` is executed in a fresh
interpreter with the bookshop demo's settings and a migrated, seeded SQLite
database, so samples may import ``shop.models`` and query. A sample that
defines ``async def main()`` has it run with ``asyncio.run``. The pages this
project's guides live on must mark *every* Python block that way.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.examples.conftest import DEMO_DIR, ROOT, demo

DOCS = ROOT / "docs"
# Pages whose every ```python block must be executable (marked "test").
GUIDES = [
    "getting-started.md",
    "how-it-works.md",
    "connections.md",
    "settings.md",
    "checks.md",
    "migrating.md",
    "limits.md",
    "errors.md",
    "scale-out.md",
]
FENCE = re.compile(r"^```python( test)?[^\n]*\n(.*?)^```", re.M | re.S)

RUNNER = """
import asyncio, inspect, sys
import django
django.setup()
source = open(sys.argv[1], encoding="utf-8").read()
namespace = {"__name__": "__doc_sample__"}
exec(compile(source, sys.argv[2], "exec"), namespace)
main = namespace.get("main")
if inspect.iscoroutinefunction(main):
    asyncio.run(main())
elif callable(main):
    main()
"""


def samples() -> list[tuple[str, int, str]]:
    """(page, line, code) of every tested sample in docs/."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1):
                line = text.count("\n", 0, match.start()) + 1
                found.append((page.name, line, match.group(2)))
    return found


SAMPLES = samples()


def test_guides_mark_every_python_block() -> None:
    for name in GUIDES:
        text = (DOCS / name).read_text(encoding="utf-8")
        untested = [m.start() for m in FENCE.finditer(text) if not m.group(1)]
        assert not untested, f"{name} has a ```python block not marked 'test'"


def test_index_links_every_guide() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for name in GUIDES:
        assert f"({name})" in index, f"docs/index.md does not link {name}"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("docs") / "db.sqlite3"
    demo.setup(BOOKSHOP_SQLITE=str(database))
    return demo.child_env(BOOKSHOP_SQLITE=str(database))


@pytest.mark.parametrize(
    "page,line,code", SAMPLES, ids=[f"{p}:{n}" for p, n, _ in SAMPLES]
)
def test_sample_runs(
    page: str, line: int, code: str, demo_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "sample.py"
    # Keep the page's line numbers in tracebacks.
    source.write_text("\n" * line + code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER, str(source), f"docs/{page}"],
        cwd=DEMO_DIR,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
