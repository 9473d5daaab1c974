"""An ASGI wrapper that watches the loop it serves on, for
``python -m bench.tail_compare`` (never part of a measured system).

``BENCH_PROBE_APP`` names the wrapped application (``module:attribute``).
While it serves, the wrapper records:

* loop lag: a timer due every 5 ms notes how late it runs, i.e. how long
  the callbacks queued before it kept the loop;
* garbage-collector pauses, per generation (``gc.callbacks``);
* each request's time in the application, from the ASGI call to its last
  body message;
* when each client connection's first request reached the application
  (connections are told apart by the client's address and port).

``GET /probe/`` answers the figures since the last ``GET /probe/reset/``,
as JSON; both are answered by the wrapper itself.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import statistics
import time
from typing import Any

_TICK = 0.005

_module, _, _attribute = os.environ["BENCH_PROBE_APP"].partition(":")
inner = getattr(importlib.import_module(_module), _attribute)


class _Figures:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.gc: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.in_app: list[float] = []
        self.first_seen: dict[tuple[str, int], float] = {}


figures = _Figures()
_gc_started = 0.0
_ticker: asyncio.Task[None] | None = None  # held: the loop keeps weak references


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        figures.gc[info["generation"]].append(time.perf_counter() - _gc_started)


gc.callbacks.append(_on_gc)


async def _tick() -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + _TICK
        await asyncio.sleep(_TICK)
        figures.lags.append(loop.time() - due)


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary() -> dict[str, Any]:
    """The figures since the last reset, in milliseconds."""
    firsts = sorted(figures.first_seen.values())
    return {
        "lag_p50_ms": _ms(figures.lags, 0.5),
        "lag_p99_ms": _ms(figures.lags, 0.99),
        "lag_max_ms": _ms(figures.lags, 1.0),
        "gc": {
            str(gen): {
                "count": len(pauses),
                "max_ms": _ms(pauses, 1.0),
                "total_ms": 1000 * sum(pauses),
                "mean_ms": 1000 * statistics.fmean(pauses) if pauses else None,
            }
            for gen, pauses in figures.gc.items()
        },
        "requests": len(figures.in_app),
        "in_app_p50_ms": _ms(figures.in_app, 0.5),
        "in_app_p99_ms": _ms(figures.in_app, 0.99),
        "connections": len(firsts),
        "first_requests_spread_ms": 1000 * (firsts[-1] - firsts[0]) if firsts else None,
    }


async def _answer(send: Any, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The wrapped application, watched; ``/probe/`` and ``/probe/reset/``."""
    global figures, _ticker
    if _ticker is None:
        _ticker = asyncio.get_running_loop().create_task(_tick())
    if scope["type"] != "http":
        return await inner(scope, receive, send)
    if scope["path"] == "/probe/":
        return await _answer(send, summary())
    if scope["path"] == "/probe/reset/":
        figures = _Figures()
        return await _answer(send, {"reset": True})
    started = time.perf_counter()
    client = tuple(scope.get("client") or ("", 0))
    figures.first_seen.setdefault(client, started)
    recorded = figures

    async def timed_send(message: dict[str, Any]) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            recorded.in_app.append(time.perf_counter() - started)

    await inner(scope, receive, timed_send)
