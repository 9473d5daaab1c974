"""The cache's native async methods are generated from the installed Django's
own source (``scripts/generate_async_cache.py``): the checked-in module must
be what the generator makes of it."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_generated_async_methods_match_django():
    script = os.path.join(ROOT, "scripts", "generate_async_cache.py")
    result = subprocess.run(
        [sys.executable, script, "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
