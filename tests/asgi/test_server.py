"""The ASGI handler over real HTTP: uvicorn, PostgreSQL, httpx.

Every test runs against both ``SYNC_VIEWS`` modes: ``greenlet`` (oneloop:
sync code on the loop thread) and ``thread`` (Django's stock behaviour).
Test order matters a little: the thread census runs first, before any test
makes a thread on purpose (``offload``, the static files handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from pathlib import Path

import httpx
import pytest

from tests.asgi.conftest import loop_only

pytestmark = [pytest.mark.postgresql]

VIEWS = Path(__file__).parent / "project" / "views.py"
LANGUAGES = ["en", "fr", "de", "es", "it", "nl", "pt", "pl", "sv", "da"]
TIME_ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Africa/Cairo",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Europe/Moscow",
    "Pacific/Auckland",
    "America/Anchorage",
]


def line_of(marker: str) -> int:
    for number, line in enumerate(VIEWS.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker} not found in {VIEWS}")


def client(server, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=30,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        **kwargs,
    )


async def test_sync_view_and_middleware_run_on_the_loop_thread(server):
    async with client(server) as http:
        loop_thread = (await http.get("/loop-thread/")).json()["thread"]
        response = await http.get("/sync-thread/")
    assert response.status_code == 200
    body = response.json()
    headers = response.headers
    if server.on_loop:
        assert body["thread"] == loop_thread
        assert set(body["middleware"].values()) == {loop_thread}
        assert len(body["middleware"]) == 6  # 3 middlewares x 2 hooks
        for label in ("First", "Second", "Third", "Async"):
            assert int(headers[f"x-{label}-thread"]) == loop_thread
        assert body["async_middleware"] == loop_thread
        assert body["request_started"] == loop_thread
        # No executor thread exists: only the loop's and the watchdog's.
        assert body["threads"] == ["MainThread", "oneloop-watchdog"]
    else:
        # Stock behaviour: the sync view runs in a thread of its own.
        assert body["thread"] != loop_thread
        assert body["async_middleware"] == loop_thread


async def test_request_finished_receivers_and_streaming(server):
    async with client(server) as http:
        loop_thread = (await http.get("/loop-thread/")).json()["thread"]
        streamed = await http.get("/streaming/")
        finished = (await http.get("/finished/")).json()["threads"]
    assert streamed.status_code == 200
    lines = streamed.text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["0", "1", "2"]
    if server.on_loop:
        assert {int(line.split(":")[1]) for line in lines} == {loop_thread}
        # The receivers of the streaming request and of the one before.
        assert finished[-2:] == [loop_thread, loop_thread]


async def test_100_concurrent_database_waits_on_one_worker(server):
    async with client(server) as http:
        await http.get("/pg-sleep/", params={"s": 0})  # warm the pool
        started = time.monotonic()
        responses = await asyncio.gather(
            *(http.get("/pg-sleep/", params={"s": 0.2}) for _ in range(100))
        )
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 100
    # Serially this would take 20 s; with the pool's 30 connections, four
    # rounds of 0.2 s. Under 5 s proves at least four waits at a time, with
    # room for a loaded machine's CPU time (100 requests, client included).
    assert elapsed < 5, f"100 x 0.2 s database waits took {elapsed:.2f} s"


async def _log_in(server, n: int) -> httpx.AsyncClient:
    http = client(server, headers={"Accept-Language": LANGUAGES[n]})
    path = "/login/" if n % 2 else "/alogin/"
    response = await http.post(
        path,
        data={
            "username": f"user{n}",
            "password": f"pw-user{n}",
            "marker": f"marker-{n}-{secrets.token_hex(4)}",
            "tz": TIME_ZONES[n],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"] == f"user{n}"
    return http


async def test_isolation_of_users_sessions_languages_and_time_zones(server):
    clients = [await _log_in(server, n) for n in range(10)]
    try:
        # One request each first: the marker each session holds.
        markers = [(await http.get("/isolation/")).json()["marker"] for http in clients]
        jobs = [
            (n, clients[n].get("/isolation/")) for _ in range(10) for n in range(10)
        ]
        responses = await asyncio.gather(*(job for _, job in jobs))
        for (n, _), response in zip(jobs, responses, strict=True):
            assert response.status_code == 200, response.text
            body = response.json()
            expected = {
                "user": f"user{n}",
                "user_again": f"user{n}",
                "marker": markers[n],
                "marker_again": markers[n],
                "language": LANGUAGES[n],
                "language_again": LANGUAGES[n],
                "tz": TIME_ZONES[n],
                "tz_again": TIME_ZONES[n],
            }
            assert {key: body[key] for key in expected} == expected
        assert len(set(markers)) == 10
    finally:
        for http in clients:
            await http.aclose()


async def _query_pids(pg, database: str, token: str) -> list[int]:
    def look() -> list[int]:
        with pg(database) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE %s "
                "AND pid <> pg_backend_pid()",
                [f"%pg_sleep%{token}%"],
            ).fetchall()
        return [pid for (pid,) in rows]

    return await asyncio.to_thread(look)


@pytest.mark.parametrize("view", ["disconnect", "adisconnect"])
async def test_client_disconnect_stops_the_query_and_rolls_back(server, pg, view):
    if view == "disconnect" and not server.on_loop:
        pytest.skip(
            "stock behaviour: a sync view in a thread cannot be cancelled, its "
            "query runs to the end (the async view variant runs in both modes)"
        )
    token = secrets.token_hex(6)
    http = client(server)
    request = asyncio.create_task(
        http.get(f"/{view}/", params={"token": token, "s": 5})
    )
    deadline = time.monotonic() + 10
    while not await _query_pids(pg, server.database, token):
        assert time.monotonic() < deadline, "the 5 s query never started"
        assert not request.done(), request.result()
        await asyncio.sleep(0.05)
    request.cancel()  # the client goes away: httpx closes the connection
    with contextlib.suppress(asyncio.CancelledError):
        await request
    await http.aclose()
    gone_at = time.monotonic()
    while await _query_pids(pg, server.database, token):
        assert time.monotonic() - gone_at < 1, "the query still runs 1 s later"
        await asyncio.sleep(0.05)

    def committed() -> int:
        with pg(server.database) as conn:
            return conn.execute(
                "SELECT count(*) FROM testapp_counter WHERE name = %s", [token]
            ).fetchone()[0]

    await asyncio.sleep(0.2)
    assert await asyncio.to_thread(committed) == 0


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


async def test_admin_login_changelist_add_change_delete(server, pg):
    name = f"Admin author {server.mode} {secrets.token_hex(3)}"
    async with client(server) as http:
        page = await http.get("/admin/login/")
        response = await http.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": _csrf(page.text),
                "username": "admin",
                "password": "admin-pw",
                "next": "/admin/",
            },
        )
        assert response.status_code == 302, response.text
        index = await http.get("/admin/")
        assert "Site administration" in index.text
        # Changelist with search and with a filter.
        found = await http.get("/admin/testapp/book/", params={"q": "Book 42"})
        assert found.status_code == 200
        assert "1 result (" in found.text and "Book 42" in found.text
        filtered = await http.get(
            "/admin/testapp/book/", params={"author__id__exact": "1"}
        )
        assert filtered.status_code == 200 and "Book 100" in filtered.text
        # Add.
        form = await http.get("/admin/testapp/author/add/")
        added = await http.post(
            "/admin/testapp/author/add/",
            data={"csrfmiddlewaretoken": _csrf(form.text), "name": name},
        )
        assert added.status_code == 302, added.text
        with pg(server.database) as conn:
            (pk,) = conn.execute(
                "SELECT id FROM testapp_author WHERE name = %s", [name]
            ).fetchone()
        # Change.
        url = f"/admin/testapp/author/{pk}/change/"
        form = await http.get(url)
        assert name in form.text
        changed = await http.post(
            url, data={"csrfmiddlewaretoken": _csrf(form.text), "name": name + "!"}
        )
        assert changed.status_code == 302, changed.text
        # Delete, through the confirmation page.
        url = f"/admin/testapp/author/{pk}/delete/"
        confirm = await http.get(url)
        assert "Are you sure" in confirm.text
        deleted = await http.post(
            url, data={"csrfmiddlewaretoken": _csrf(confirm.text), "post": "yes"}
        )
        assert deleted.status_code == 302, deleted.text
    with pg(server.database) as conn:
        left = conn.execute(
            "SELECT count(*) FROM testapp_author WHERE id = %s", [pk]
        ).fetchone()[0]
    assert left == 0


async def test_rest_framework_viewset(server):
    title = f"DRF {server.mode} {secrets.token_hex(3)}"
    async with client(server) as http:
        assert (await http.get("/api/books/")).status_code in (401, 403)
        auth = ("user1", "pw-user1")
        listed = await http.get("/api/books/", auth=auth)
        assert listed.status_code == 200
        assert len(listed.json()) >= 100
        created = await http.post(
            "/api/books/", json={"title": title, "n": 5000}, auth=auth
        )
        assert created.status_code == 201, created.text
        pk = created.json()["id"]
        fetched = await http.get(f"/api/books/{pk}/", auth=auth)
        assert fetched.json()["title"] == title


async def test_async_auth_sessions_and_messages(server):
    http = await _log_in(server, 0)  # alogin
    try:
        body = (await http.get("/contrib-async/")).json()
        assert body["user"] == "user0"
        assert body["can_add_book"] is True
        assert body["marker"].startswith("marker-0-")
        assert (await http.get("/messages/add/", params={"who": "ada"})).text == (
            "added"
        )
        shown = (await http.get("/messages/")).json()["messages"]
        assert shown == ["hello ada"]
        assert (await http.get("/messages/")).json()["messages"] == []
    finally:
        await http.aclose()


async def test_async_auth_is_hop_free(server):
    if not server.on_loop:
        pytest.skip("stock behaviour (SYNC_VIEWS='thread'): thread hops")
    http = await _log_in(server, 2)  # alogin
    try:
        body = (await http.get("/contrib-async/")).json()
        assert body["user"] == "user2"
        assert loop_only(body["threads"]), body["threads"]
    finally:
        await http.aclose()


async def _new_warnings(server, before: int, wait: float = 1.0) -> list[str]:
    """Warnings logged after the first ``before``, waiting up to ``wait`` s
    for the monitor thread to write them."""
    deadline = time.monotonic() + wait
    while True:
        warnings = server.watchdog_warnings()[before:]
        if warnings or time.monotonic() > deadline:
            return warnings
        await asyncio.sleep(0.05)


async def test_watchdog_reports_the_blocking_line_once(server):
    async with client(server) as http:
        await http.get("/fast/")
        before = len(server.watchdog_warnings())
        path, marker = (
            ("/sleepy/", "# BLOCKING-LINE")
            if server.on_loop
            else ("/asleepy/", "ASYNC-BLOCKING-LINE")
        )
        assert (await http.get(path)).status_code == 200
        warnings = await _new_warnings(server, before)
        await asyncio.sleep(0.3)  # a second warning would have come by now
        warnings = server.watchdog_warnings()[before:]
    assert len(warnings) == 1, warnings
    assert f"{VIEWS}:{line_of(marker)}" in warnings[0]
    assert "oneloop.offload" in warnings[0]
    if not server.on_loop:
        # Stock threads: the sync view's sleep does not block the loop.
        async with client(server) as http:
            before = len(server.watchdog_warnings())
            assert (await http.get("/sleepy/")).status_code == 200
            assert await _new_warnings(server, before, wait=0.5) == []


async def test_offloaded_blocking_call_leaves_the_loop_free(server):
    async with client(server) as http:
        await http.get("/fast/")
        before = len(server.watchdog_warnings())
        slow = asyncio.create_task(http.get("/sleepy-offloaded/"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        for _ in range(5):
            assert (await http.get("/fast/")).text == "fast"
        fast_time = time.monotonic() - started
        assert not slow.done()  # the fast requests ran during the sleep
        assert (await slow).status_code == 200
        assert await _new_warnings(server, before, wait=0.4) == []
    assert fast_time < 0.25


async def test_static_files_handler_wraps_the_handler(server):
    """``/static/`` is served by Django's ``ASGIStaticFilesHandler`` itself,
    as in stock Django: the file is opened and read in worker threads (disk
    IO, which blocks) and that request's signals and closing run in a thread
    too (see docs/asgi.md). Every other request reaches oneloop's handler,
    on the loop as before."""
    async with client(server) as http:
        loop_thread = (await http.get("/loop-thread/")).json()["thread"]
        css = await http.get("/static/asgiproject/site.css")
        assert css.status_code == 200
        assert "teal" in css.text
        assert (await http.get("/fast/")).text == "fast"
        if not server.on_loop:
            return
        # The static request's request_finished ran in a thread (it may
        # still be closing when its response has arrived).
        deadline = time.monotonic() + 5
        while True:
            finished = (await http.get("/finished/")).json()["threads"]
            if any(thread != loop_thread for thread in finished):
                break
            assert time.monotonic() < deadline, finished
            await asyncio.sleep(0.05)
        body = (await http.get("/sync-thread/")).json()
    assert (body["thread"], body["request_started"]) == (loop_thread, loop_thread)
