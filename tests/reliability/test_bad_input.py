"""Bad input: each gets a clear error, and the process stays healthy.

Over HTTP against the project server: malformed requests, huge headers and
bodies, invalid UTF-8 in query strings and form data, and hostile strings
through every ORM lookup. In process: absurd pool settings (system check
errors), and ``await_``/``run_sync``/greenlets used from the wrong place.
After each group the server answers, holds no connection and logged no
traceback.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
import threading
import warnings
from urllib.parse import urlsplit

import greenlet
import httpx
import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.test import override_settings

import oneloop
from oneloop.checks import check_databases
from tests.reliability.conftest import ProjectServer

pytestmark = [pytest.mark.reliability]

HOSTILE = [
    "'; DROP TABLE testapp_book; --",
    "' OR '1'='1",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "\\'",
    "Book 1') OR ('a'='a",
    "$$; DELETE FROM testapp_book; $$",
    "(",
    "[",
    "*",
    "\u202e\ufeffé中文🙂",
    "a" * 10_000,
    "\x00",
    "x\x00y",
]


def _raw(server: ProjectServer, data: bytes) -> bytes:
    """Send raw bytes, return what comes back before the server closes (a
    server may also answer and close, or reset, a connection whose input it
    refuses before reading all of it)."""
    url = urlsplit(server.url)
    chunks = []
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def _assert_healthy(server: ProjectServer) -> None:
    assert server.process.poll() is None, server.log()
    assert httpx.get(f"{server.url}/health/", timeout=10).status_code == 200
    pool = server.stats()["pool"]
    assert pool["pool_size"] - pool["pool_available"] == 0, pool
    assert "Traceback" not in server.log(), server.log()[-3000:]


@pytest.mark.postgresql
def test_malformed_and_huge_http(project_database: str, start_project) -> None:
    server = start_project(project_database)
    for data in [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /health/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /health/ HTTP/1.1\r\nHost x\r\n\r\n",
        b"POST /form/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"\x00\xff\xfe" * 100,
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n",
        b"GET /form/?a=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    ]:
        answer = _raw(server, data)
        assert not answer.startswith(b"HTTP/1.1 500"), (data[:60], answer[:200])
    with httpx.Client(base_url=server.url, timeout=30) as http:
        # Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: Django's 400.
        big = http.post("/form/", data={"a": "x" * 3_000_000})
        assert big.status_code == 400
        many = http.post("/form/", content="&".join(f"f{i}=1" for i in range(5000)))
        assert many.status_code in (200, 400)
        # Invalid UTF-8, percent-encoded, in the query string and form data.
        query = http.get("/form/?a=%FF%FE&b=%C3%28&%E2%82=1")
        assert query.status_code == 200, query.text
        assert query.json()["GET"]["a"] == ["\ufffd\ufffd"]
        form = http.post(
            "/form/",
            content=b"a=%FF%FE&b=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 200, form.text
        bad_charset = http.post(
            "/form/",
            content=b"a=1",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=zz"},
        )
        assert bad_charset.status_code in (200, 400)
    _assert_healthy(server)


@pytest.mark.postgresql
def test_hostile_strings_in_every_orm_lookup(
    project_database: str, start_project
) -> None:
    server = start_project(project_database)
    outcomes: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        before = http.get("/lookup/", params={"q": "Book 1"}).json()["books_left"]
        for q in HOSTILE:
            response = http.get("/lookup/", params={"q": q})
            if response.status_code == 200:
                body = response.json()
                assert body["books_left"] == before
                assert body["exact"] == 0 and body["raw"] == 0
                outcomes[q[:20]] = "200"
            else:
                assert response.status_code == 503, response.text
                error = response.json()["error"]
                assert error.startswith("django.db.utils."), error
                outcomes[q[:20]] = error
        assert http.get("/lookup/", params={"q": "Book 1"}).json()["exact"] == 1
    print("hostile lookups:", outcomes)
    _assert_healthy(server)


def test_absurd_pool_settings_are_system_check_errors() -> None:
    absurd = [
        {"max_size": 0},
        {"min_size": 10, "max_size": 2},
        {"min_size": -1},
        {"max_size": "many"},
        {"timeout": 0},
        {"timeout": -3},
        {"timeout": True},
        {"max_sise": 10},
        "big",
    ]
    for pool in absurd:
        databases = {
            "default": {
                "ENGINE": "oneloop.db.backends.postgresql",
                "NAME": "x",
                "OPTIONS": {"pool": pool},
            }
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Overriding DATABASES" warning
            with override_settings(DATABASES=databases):
                errors = check_databases()
        assert [e.id for e in errors] and {e.id for e in errors} == {"oneloop.E001"}, (
            pool,
            errors,
        )
        assert all(e.hint for e in errors)


async def test_misuse_from_wrong_contexts_is_a_clear_error() -> None:
    # await_ on the loop, outside a bridge: MissingBridge, saying what to do.
    with pytest.raises(oneloop.MissingBridge, match="run_sync"):
        oneloop.await_(asyncio.sleep(0))
    # Sync ORM from async code, outside a bridge: Django's own guard.
    from tests.testapp.models import Book

    with pytest.raises(SynchronousOnlyOperation):
        Book.objects.count()

    def in_bridge() -> dict[str, str]:
        seen: dict[str, str] = {}
        # A switch into this bridge greenlet from another thread: greenlet
        # refuses it, and this greenlet goes on untouched.
        me = greenlet.getcurrent()
        try:
            oneloop.offload(me.switch, None)
        except greenlet.error as exc:
            seen["cross_thread_switch"] = str(exc)
        # Nested: a bridge awaiting run_sync of more sync code.
        seen["nested"] = oneloop.await_(oneloop.run_sync(lambda: "inner"))
        return seen

    seen = await asyncio.wait_for(oneloop.run_sync(in_bridge), 30)
    assert "different thread" in seen["cross_thread_switch"]
    assert seen["nested"] == "inner"
    # And the loop still serves bridges.
    assert await oneloop.run_sync(lambda: 2 + 2) == 4


# Private loops of finished threads, kept referenced so that an unclosed one
# cannot warn at some later, unrelated garbage collection.
_thread_loops: list[asyncio.AbstractEventLoop] = []


def test_await_in_a_plain_thread_uses_a_private_loop_closed_with_it() -> None:
    other_loop = asyncio.new_event_loop()
    foreign = other_loop.create_future()
    seen: dict[str, object] = {}

    def thread_body() -> None:
        seen["loop"] = oneloop.await_(_running_loop())
        seen["answer"] = oneloop.await_(_running_loop()) is seen["loop"]
        try:
            oneloop.await_(foreign)  # a future of another loop: an error
        except (RuntimeError, ValueError) as exc:
            seen["foreign"] = type(exc).__name__

    thread = threading.Thread(target=thread_body)
    thread.start()
    thread.join(30)
    other_loop.close()
    loop = seen["loop"]
    assert isinstance(loop, asyncio.AbstractEventLoop)
    _thread_loops.append(loop)
    assert seen["answer"] is True  # one private loop per thread, reused
    assert seen["foreign"] in ("RuntimeError", "ValueError")
    gc.collect()
    assert loop.is_closed(), "the thread ended but its private loop is open"


async def _running_loop() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0)
    return asyncio.get_running_loop()
