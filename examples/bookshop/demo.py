"""Set the bookshop demo up and serve it, or compare it with stock Django.

    python examples/bookshop/demo.py              # migrate, sample data, serve
    python examples/bookshop/demo.py --workers 2  # two worker processes, one port
    python examples/bookshop/demo.py --load       # oneloop vs stock Django, req/s

Serving: migrates, creates the sample data and the ``demo`` user (password
``demo``) and runs uvicorn on 127.0.0.1, printing the URL. Ctrl-C stops it.

``--load``: starts the project twice on free ports — on oneloop, and as stock
Django runs it (Django's ASGI handler and ENGINEs, ``BOOKSHOP_STOCK=1``) — sends
the same bounded load to a few pages of each, one server at a time, and prints
requests per second side by side.

Environment: ``DATABASE_URL`` / ``REDIS_URL`` switch to PostgreSQL or
MySQL/MariaDB / Redis (see ``bookshop/settings.py``); otherwise SQLite and
local memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The pages the load comparison requests, round robin, and what they show.
LOAD_PATHS = {
    "/books/?q=the": "async view: search + pagination, arender, cached fragment",
    "/api/books/?q=river": "sync JSON view: two queries",
    "/api/stats/": "async view: four lookups with gather",
}


def child_env(**extra: str) -> dict[str, str]:
    """The environment for manage.py and uvicorn: this checkout's ``oneloop``
    is importable even when the package is not installed."""
    env = dict(os.environ)
    paths = [str(HERE)]
    try:
        import oneloop

        from_checkout = Path(oneloop.__file__).resolve().parent.parent == REPO
    except ImportError:
        from_checkout = True
    if from_checkout:
        paths.append(str(REPO))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["DJANGO_SETTINGS_MODULE"] = "bookshop.settings"
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    """Run ``manage.py`` with ``args``; stop the demo if it fails, saying
    what to check (its own error is printed above)."""
    env = env or child_env()
    try:
        subprocess.run(
            [sys.executable, str(HERE / "manage.py"), *args],
            cwd=HERE,
            env=env,
            check=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as exc:
        where = (
            "DATABASE_URL's server must answer and its database exist "
            "(create it first: docs/getting-started.md)"
            if env.get("DATABASE_URL")
            else "see its error above"
        )
        raise SystemExit(
            f"The demo stopped: manage.py {args[0]} failed (exit status "
            f"{exc.returncode}); {where}."
        ) from None


def setup(**extra_env: str) -> None:
    """Create or update the database and load the sample data."""
    env = child_env(**extra_env)
    manage("migrate", "--verbosity", "0", env=env)
    manage("seed", env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    port: int,
    workers: int = 1,
    stock: bool = False,
    quiet: bool = False,
    log: Path | None = None,
    **extra_env: str,
) -> subprocess.Popen[bytes]:
    """Start uvicorn on 127.0.0.1:``port`` and wait until it answers.

    Its output goes to the terminal, or to ``log``, or nowhere (``quiet``).
    """
    env = child_env(BOOKSHOP_STOCK="1" if stock else "0", **extra_env)
    cmd = [
        sys.executable, "-m", "uvicorn", "bookshop.asgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip
    if log is not None:
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=out, stderr=out)
    else:
        out = subprocess.DEVNULL if quiet else None
        proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"uvicorn did not listen on port {port} within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop uvicorn gracefully (SIGINT), forcefully after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- load ---------------------------------------------------------------------


async def _client(
    port: int, paths: Sequence[str], until: float, counts: dict[str, int]
) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs until ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.monotonic() < until:
            path = paths[i % len(paths)]
            i += 1
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii")
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts["ok" if status == 200 else "errors"] += 1
    finally:
        writer.close()


async def _load(port: int, paths: Sequence[str], seconds: float, clients: int) -> float:
    counts = {"ok": 0, "errors": 0}
    start = time.monotonic()
    until = start + seconds
    # Each client starts on a different page, so the mix is even.
    await asyncio.gather(
        *(
            _client(
                port,
                [*paths[i % len(paths) :], *paths[: i % len(paths)]],
                until,
                counts,
            )
            for i in range(clients)
        )
    )
    if counts["errors"]:
        raise SystemExit(f"{counts['errors']} requests failed on port {port}")
    return counts["ok"] / (time.monotonic() - start)


def measure(port: int, path: str, seconds: float, clients: int) -> float:
    """Requests per second for ``path``: ``clients`` connections for
    ``seconds`` after a one-second warm-up."""
    asyncio.run(_load(port, [path], 1.0, clients))
    return asyncio.run(_load(port, [path], seconds, clients))


def compare(seconds: float, clients: int) -> None:
    """Serve the demo on oneloop and on stock Django; print req/s of each."""
    results: dict[str, dict[str, float]] = {}
    for name, stock in (("oneloop", False), ("stock Django", True)):
        port = free_port()
        proc = start_server(port, stock=stock, quiet=True)
        try:
            results[name] = {
                path: measure(port, path, seconds, clients) for path in LOAD_PATHS
            }
        finally:
            stop_server(proc)
    print()
    print(f"requests/s, {clients} connections, {seconds:g} s per page, 1 worker each")
    print(f"{'page':<22} {'oneloop':>9} {'stock Django':>13} {'ratio':>6}  what")
    for path, what in LOAD_PATHS.items():
        ours, theirs = results["oneloop"][path], results["stock Django"][path]
        print(f"{path:<22} {ours:>9.0f} {theirs:>13.0f} {ours / theirs:>5.2f}x  {what}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--load", action="store_true", help="compare req/s with stock Django and exit"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="load per page")
    parser.add_argument("--clients", type=int, default=20, help="load connections")
    parser.add_argument(
        "--no-setup", action="store_true", help="skip migrate and sample data"
    )
    args = parser.parse_args(argv)
    if not args.no_setup:
        setup()
    if args.load:
        compare(args.seconds, args.clients)
        return
    proc = start_server(args.port, workers=args.workers)
    print(f"\nThe bookshop is up at http://127.0.0.1:{args.port}/", flush=True)
    print(
        "Log in as demo / demo. Open a book's page in two tabs and post a\n"
        "review in one: it appears at once in the other. Ctrl-C stops it.\n",
        flush=True,
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
