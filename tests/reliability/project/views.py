"""Views of the reliability project: plain sync Django, run on the loop by
oneloop. A database error becomes a 503 whose JSON names the exception
class, so the tests can count errors by class over HTTP; any other exception
is a 500 with its traceback in the server's log."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django import db
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tests.testapp.models import Book, Counter

# The lookups the bad-input tests send hostile strings through.
LOOKUPS = [
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "regex",
    "iregex",
    "in",
    "gt",
    "lte",
]


def db_errors_as_503(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    """Answer a ``django.db.Error`` with 503 and the error's class; add the
    time the view took (waiting for the pool included) as ``X-View-Seconds``,
    so tests can bound it apart from the load generator's own delays."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.monotonic()
        try:
            response = view(request, *args, **kwargs)
        except db.Error as exc:
            response = JsonResponse(
                {
                    "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
                    "message": str(exc)[:500],
                },
                status=503,
            )
        response["X-View-Seconds"] = f"{time.monotonic() - started:.4f}"
        return response

    return wrapped


def health(request: HttpRequest) -> HttpResponse:
    """One round trip to the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return JsonResponse({"ok": cursor.fetchone()[0] == 1})


@db_errors_as_503
def write(request: HttpRequest) -> HttpResponse:
    """Commit one row titled ``?token=``, with a short server-side wait inside
    the transaction so that faults can land in the middle of it."""
    token = request.GET["token"]
    with transaction.atomic():
        Book.objects.create(title=token, n=-1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [float(request.GET.get("s", 0.01))])
    return JsonResponse({"token": token})


@db_errors_as_503
def hold(request: HttpRequest) -> HttpResponse:
    """Hold a pooled connection for ``?s=`` seconds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [float(request.GET.get("s", 0.5))])
    return JsonResponse({"held": True})


@db_errors_as_503
def increment(request: HttpRequest) -> HttpResponse:
    """``select_for_update()`` increment of counter ``?name=``."""
    with transaction.atomic():
        counter = Counter.objects.select_for_update().get(name=request.GET["name"])
        counter.value += 1
        counter.save(update_fields=["value"])
    return JsonResponse({"value": counter.value})


@db_errors_as_503
def lookup(request: HttpRequest) -> HttpResponse:
    """Run ``?q=`` through every lookup in ``LOOKUPS`` on ``Book.title`` (and
    the numeric ones on ``Book.n`` when ``q`` is a number); count matches."""
    q = request.GET.get("q", "")
    counts: dict[str, int] = {}
    for name in LOOKUPS:
        value: Any = [q, q + "x"] if name == "in" else q
        counts[name] = Book.objects.filter(**{f"title__{name}": value}).count()
    counts["raw"] = len(
        list(Book.objects.raw("SELECT * FROM testapp_book WHERE title = %s", [q]))
    )
    counts["extra"] = Book.objects.extra(where=["title = %s"], params=[q]).count()
    counts["books_left"] = Book.objects.count()
    return JsonResponse(counts)


@csrf_exempt
def form(request: HttpRequest) -> HttpResponse:
    """Echo the parsed form and query string."""
    return JsonResponse(
        {
            "GET": {k: request.GET.getlist(k) for k in request.GET},
            "POST": {k: request.POST.getlist(k) for k in request.POST},
            "body_bytes": len(request.body),
        }
    )


def stats(request: HttpRequest) -> HttpResponse:
    """Process health: RSS, open file descriptors, tasks, and the stats of
    this loop's connection pool (``None`` before the first query). A sync
    view, so it runs on the server's loop in a bridge."""
    from oneloop.db.backends._pools import _pools

    per_loop = _pools.get(asyncio.get_running_loop(), {})
    pool = per_loop.get("default")
    rss_kib = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return JsonResponse(
        {
            "rss_kib": rss_kib,
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(asyncio.all_tasks()),
            "pool": pool.pool.get_stats() if pool is not None else None,
        }
    )
