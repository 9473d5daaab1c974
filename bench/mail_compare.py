"""Stock ``send_mail`` in a thread vs oneloop's ``asend_mail``, same run.

Run from the repository root::

    python bench/mail_compare.py [--messages 200] [--concurrent 20] [--delay 0.2]
                                 [--loops asyncio,uvloop] [--no-save]

Two real SMTP servers (aiosmtpd, 127.0.0.1, each in its own process so they
do not share the client's GIL): one answers at once, one waits ``--delay``
seconds before accepting each message's DATA.

1. Per message, sequentially, against the fast server: stock
   ``sync_to_async(send_mail)`` with Django's SMTP backend (a thread hop and
   blocking smtplib) vs ``await asend_mail(...)`` with oneloop's backend.
   Wall and client-CPU µs per message; each send opens its own connection,
   as ``send_mail`` does. Then the same messages as one batch over one
   connection (``send_mass_mail`` vs ``asend_mass_mail``).
2. ``--concurrent`` sends at once against the delaying server: wall time of
   stock ``sync_to_async`` (``thread_sensitive=True``, Django's default, and
   ``False``, a thread pool) vs ``asend_mail`` and vs sync ``send_mail``
   called inside ``run_sync`` bridges.

Both parts run on each loop of ``--loops`` in turn. The results go to
``bench/results/mail-<date>.json`` and the table of docs/mail.md (see
``bench.publish``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def serve(port: int, delay: float) -> None:
    """Child process: an SMTP server that delays DATA by ``delay`` seconds."""
    from tests.mail.server import Handler, SMTPServer

    server = SMTPServer(Handler(data_delay=delay))
    server.controller.port = server.port = port
    with server:
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def start_server(delay: float) -> tuple[subprocess.Popen, int]:
    from tests.mail.server import free_port

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child, port


def setup_django() -> None:
    import django
    from django.conf import settings

    settings.configure(
        EMAIL_HOST="127.0.0.1",
        EMAIL_TIMEOUT=30,
        DEFAULT_FROM_EMAIL="bench@example.com",
    )
    django.setup()


async def timed(
    label: str, count: int, make: Callable[[int], Awaitable[int]]
) -> dict[str, float]:
    """Run ``make(i)`` sequentially ``count`` times; µs per call, wall and CPU."""
    await make(-1)  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        assert await make(i) == 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    us_wall, us_cpu = wall / count * 1e6, cpu / count * 1e6
    print(f"  {label:<44} {us_wall:8.0f} µs wall  {us_cpu:8.0f} µs CPU")
    return {"wall_us": us_wall, "cpu_us": us_cpu}


async def concurrent(
    label: str, count: int, make: Callable[[int], Awaitable[int]]
) -> float:
    start = time.perf_counter()
    results = await asyncio.gather(*(make(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    assert results == [1] * count, results
    print(f"  {label:<44} {elapsed:8.2f} s")
    return elapsed


async def main(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every figure of one loop, as recorded in the results file."""
    from asgiref.sync import sync_to_async
    from django.core.mail import send_mail, send_mass_mail
    from django.core.mail.backends.smtp import EmailBackend as StockBackend

    from oneloop.bridge import run_sync
    from oneloop.mail import asend_mail, asend_mass_mail
    from oneloop.mail.backends.smtp import EmailBackend

    fast, fast_port = start_server(0.0)
    slow, slow_port = start_server(args.delay)
    try:

        def stock(port: int, thread_sensitive: bool = True):
            send = sync_to_async(send_mail, thread_sensitive=thread_sensitive)
            return lambda i: send(
                f"m{i}",
                "body",
                None,
                ["to@example.com"],
                connection=StockBackend(port=port),
            )

        def ours(port: int):
            return lambda i: asend_mail(
                f"m{i}",
                "body",
                None,
                ["to@example.com"],
                connection=EmailBackend(port=port),
            )

        def bridged(port: int):
            return lambda i: run_sync(
                send_mail,
                f"m{i}",
                "body",
                None,
                ["to@example.com"],
                connection=EmailBackend(port=port),
            )

        print(f"per message, {args.messages} sequential sends (fast server):")
        seq = {
            "stock": await timed(
                "stock: sync_to_async(send_mail)", args.messages, stock(fast_port)
            ),
            "oneloop": await timed(
                "oneloop: await asend_mail()", args.messages, ours(fast_port)
            ),
            "bridged": await timed(
                "oneloop: send_mail in run_sync", args.messages, bridged(fast_port)
            ),
        }
        print(
            f"  asend_mail / stock: "
            f"{seq['oneloop']['wall_us'] / seq['stock']['wall_us']:.2f}x wall, "
            f"{seq['oneloop']['cpu_us'] / seq['stock']['cpu_us']:.2f}x CPU"
        )

        print(f"per message, {args.messages} messages in one batch (one connection):")
        batch = [
            (f"m{i}", "body", None, ["to@example.com"]) for i in range(args.messages)
        ]
        stock_mass = sync_to_async(send_mass_mail)
        batch_figures = {}
        for key, label, send in (
            (
                "stock",
                "stock: sync_to_async(send_mass_mail)",
                lambda: stock_mass(batch, connection=StockBackend(port=fast_port)),
            ),
            (
                "oneloop",
                "oneloop: await asend_mass_mail()",
                lambda: asend_mass_mail(batch, connection=EmailBackend(port=fast_port)),
            ),
        ):
            await send()  # warm up
            wall, cpu = time.perf_counter(), time.process_time()
            assert await send() == args.messages
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            batch_figures[key] = {
                "wall_us": wall / args.messages * 1e6,
                "cpu_us": cpu / args.messages * 1e6,
            }
            print(
                f"  {label:<44} {batch_figures[key]['wall_us']:8.0f} µs wall  "
                f"{batch_figures[key]['cpu_us']:8.0f} µs CPU"
            )

        n = args.concurrent
        print(f"{n} concurrent sends, server delays DATA {args.delay} s:")
        together = {
            "stock_thread_sensitive_s": await concurrent(
                "stock: sync_to_async (thread_sensitive)", n, stock(slow_port)
            ),
            "stock_thread_pool_s": await concurrent(
                "stock: sync_to_async(thread_sensitive=False)",
                n,
                stock(slow_port, False),
            ),
            "oneloop_s": await concurrent(
                "oneloop: await asend_mail()", n, ours(slow_port)
            ),
            "bridged_s": await concurrent(
                "oneloop: send_mail in run_sync", n, bridged(slow_port)
            ),
        }
        return {"sequential": seq, "batch": batch_figures, "concurrent": together}
    finally:
        for child in (fast, slow):
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), float(sys.argv[3]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument(
        "--loops", default="asyncio,uvloop", help="event loops, in turn"
    )
    parser.add_argument("--uvloop", action="store_true", help="same as --loops uvloop")
    parser.add_argument(
        "--no-save", action="store_true", help="print only: no results file, no page"
    )
    arguments = parser.parse_args()
    loops = ["uvloop"] if arguments.uvloop else arguments.loops.split(",")
    if set(loops) - {"asyncio", "uvloop"}:
        parser.error("--loops takes asyncio and/or uvloop")
    from bench import publish

    started = publish.begin()
    setup_django()
    by_loop = {}
    for loop in loops:
        print(f"== {loop}")
        if loop == "uvloop":
            import uvloop

            by_loop[loop] = uvloop.run(main(arguments))
        else:
            by_loop[loop] = asyncio.run(main(arguments))
    if not arguments.no_save:
        publish.publish(
            "mail",
            {
                "params": {
                    "messages": arguments.messages,
                    "concurrent": arguments.concurrent,
                    "delay": arguments.delay,
                    "loops": loops,
                },
                "loops": by_loop,
            },
            started,
        )
