"""The benchmark's Django views, each in a sync and an async variant.

The sync views are plain Django: under stock ASGI each runs in a thread, under
oneloop in a bridge greenlet on the loop. The async views use the ORM's ``a*``
methods. Both do exactly the same database work as the FastAPI and raw ASGI
peers (``bench.peers``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bench.benchapp.models import Item
from bench.db import ROWS, wait_sql

P2_WAIT = 0.05
"""P2: seconds each request waits in the database."""
P5_WAIT = 1.0
"""P5: seconds each slow request waits in the database."""
P6_QUERIES = 5
"""P6: independent waiting queries fanned out per request."""


def _waiting(k: int, seconds: float) -> QuerySet[Item]:
    """The indexed lookup of ``n = k``, made to wait ``seconds`` in the
    database: one round trip."""
    return Item.objects.filter(n=k).annotate(
        waited=RawSQL(wait_sql(connection.vendor), (seconds,))
    )


def _rows(k: int) -> QuerySet[Item]:
    """P4: 20 rows from an indexed range scan."""
    return Item.objects.filter(n__gte=k).order_by("n")[:20]


def _key() -> int:
    return random.randrange(ROWS - 20)


def _item_json(item: Item | None) -> dict[str, Any]:
    if item is None:
        return {}
    return {"id": item.pk, "n": item.n, "name": item.name, "value": item.value}


def health(request: HttpRequest) -> HttpResponse:
    """Readiness probe of the runner; touches no database."""
    return HttpResponse(b"ok", content_type="text/plain")


def p2_sync(request: HttpRequest) -> JsonResponse:
    """P2: one query that waits 50 ms in the database."""
    return JsonResponse(_item_json(_waiting(_key(), P2_WAIT).first()))


async def p2_async(request: HttpRequest) -> JsonResponse:
    """P2, async view."""
    return JsonResponse(_item_json(await _waiting(_key(), P2_WAIT).afirst()))


def p4_sync(request: HttpRequest) -> HttpResponse:
    """P4: one indexed query for 20 rows, rendered with a template."""
    items = list(_rows(_key()))
    return render(request, "bench/rows.html", {"title": "Items", "items": items})


async def p4_async(request: HttpRequest) -> HttpResponse:
    """P4, async view (the rendering itself is sync CPU work)."""
    items = [item async for item in _rows(_key())]
    return render(request, "bench/rows.html", {"title": "Items", "items": items})


def p5_sync(request: HttpRequest) -> JsonResponse:
    """P5: a slow request (waits 1 s in the database)."""
    return JsonResponse(_item_json(_waiting(_key(), P5_WAIT).first()))


async def p5_async(request: HttpRequest) -> JsonResponse:
    """P5, async view."""
    return JsonResponse(_item_json(await _waiting(_key(), P5_WAIT).afirst()))


def _fan_out_sync(keys: list[int]) -> list[Item | None]:
    """Run the P6 lookups from sync code: with oneloop, concurrently through
    ``oneloop.gather`` (only inside a bridge greenlet); in stock Django there
    is no way to do that from a sync view, so one after another."""
    try:
        from oneloop.bridge import gather, in_bridge
    except ImportError:
        in_bridge = None
    if in_bridge is not None and in_bridge():
        return gather(*(functools.partial(_waiting(k, P2_WAIT).first) for k in keys))
    return [_waiting(k, P2_WAIT).first() for k in keys]


def p6_sync(request: HttpRequest) -> JsonResponse:
    """P6: five independent 50 ms queries from a sync view."""
    items = _fan_out_sync([_key() for _ in range(P6_QUERIES)])
    return JsonResponse({"items": [_item_json(item) for item in items]})


async def p6_async(request: HttpRequest) -> JsonResponse:
    """P6 from an async view: ``asyncio.gather`` of the five ``afirst()``."""
    items = await asyncio.gather(
        *(_waiting(_key(), P2_WAIT).afirst() for _ in range(P6_QUERIES))
    )
    return JsonResponse({"items": [_item_json(item) for item in items]})
