"""Run Django's ``tests/runtests.py`` as its own ``__main__``, plainly or bridged.

Usage (the harness builds this command; run from Django's ``tests/``)::

    python -m compat.bootstrap sync|bridged path/to/runtests.py [runtests args…]

* ``sync``: runtests.py runs as if started directly: no loop, every database
  call through the ENGINE's sync driver. Running it through this module
  keeps both modes identical except for the bridge.
* ``bridged``: the whole of runtests.py runs in one bridge greenlet,
  ``asyncio.run(oneloop.run_sync(main))``: one task, so Django's per-test
  transactions work as usual, and every database call is an ``await_`` on the
  ENGINE's async driver. Parallel workers are bridged by
  ``compat.runner.BridgedParallelTestSuite``.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import runpy
import signal
import sys

__all__ = ["main"]


def _run_script(path: str) -> int:
    """Execute ``path`` as ``__main__`` and return its exit status."""
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    """Run runtests.py (``argv[1]``) in mode ``argv[0]`` with ``argv[2:]``."""
    if len(argv) < 2 or argv[0] not in ("sync", "bridged"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, script, *args = argv
    # `kill -USR1 <pid>` prints every thread's stack: how to look into a hang.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Read by compat.runner (which runtests.py imports as TEST_RUNNER).
    os.environ["ONELOOP_COMPAT_MODE"] = mode
    sys.argv = [script, *args]
    if mode == "sync":
        return _run_script(script)

    from oneloop.bridge import run_sync

    return asyncio.run(run_sync(_run_script, script))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
