"""Redis restart and SMTP server loss while the application writes.

The Redis server is killed (SIGKILL) and restarted on the same port; the SMTP
server process is killed and started again on the same port. Meanwhile many
tasks keep writing, through the async API and through the sync API in a
bridge. Errors must be the classes Django's stock backends raise (redis-py's
``ConnectionError``; ``smtplib.SMTPException`` or ``OSError``), no operation
may hang, every write reported as done must really be there (nothing
half-sent reported as sent), and once the server is back every new operation
succeeds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import mailbox
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.exceptions
from django.core.cache import caches
from django.core.mail import send_mail
from django.test import override_settings

import oneloop
from oneloop.mail import asend_mail
from tests.mail.config import ONELOOP_SMTP, use_backend
from tests.reliability.conftest import RedisServer, scale
from tests.servers import free_port

pytestmark = [pytest.mark.reliability]

WRITERS = 50
OP_BOUND = 15.0  # seconds: an operation taking longer than this has hung


def _name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


async def _run_writers(
    write: Callable[[int], Awaitable[Any]],
    acked: set[int],
    errors: collections.Counter[str],
    stop: asyncio.Event,
) -> None:
    numbers = itertools.count()

    async def writer(sync: bool) -> None:
        while not stop.is_set():
            n = next(numbers)
            try:
                await asyncio.wait_for(write(n * 2 + sync), OP_BOUND)
            except TimeoutError:
                errors["hung"] += 1
            except Exception as exc:
                errors[_name(exc)] += 1
                await asyncio.sleep(0.05)
            else:
                acked.add(n * 2 + sync)

    await asyncio.gather(*(writer(bool(i % 2)) for i in range(WRITERS)))


async def test_redis_restart_mid_writes(redis_server: RedisServer) -> None:
    caches_setting = {
        "default": {
            "BACKEND": "oneloop.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "rel",
        }
    }
    acked: set[int] = set()
    errors: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    with override_settings(CACHES=caches_setting):
        cache = caches["default"]

        async def write(n: int) -> None:
            if n % 2:  # the sync API, in a bridge
                await oneloop.run_sync(cache.set, f"k{n}", n, None)
            else:
                await cache.aset(f"k{n}", n, None)

        writers = asyncio.create_task(_run_writers(write, acked, errors, stop))
        for _ in range(scale(1, 3)):
            await asyncio.sleep(1)
            await asyncio.to_thread(redis_server.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(redis_server.start)
            await asyncio.sleep(1)
        stop.set()
        await writers

        # Back: every new operation succeeds, async and sync.
        await asyncio.wait_for(
            asyncio.gather(*(cache.aset(f"after{i}", i) for i in range(100))),
            OP_BOUND,
        )
        assert await cache.aget("after7") == 7
        assert await oneloop.run_sync(cache.get, "after8") == 8

    raw = redis.Redis.from_url(redis_server.url)
    try:
        keys = [f"rel:1:k{n}" for n in sorted(acked)]
        values = raw.mget(keys) if keys else []
    finally:
        raw.close()
    missing = [k for k, v in zip(keys, values, strict=True) if v is None]
    report = {"acked": len(acked), "lost": len(missing), "errors": dict(errors)}
    print("redis restart:", report)
    assert not missing, missing[:20]
    assert "hung" not in errors, report
    assert errors, "the restart was not seen"
    assert set(errors) <= {
        "redis.exceptions.ConnectionError",
        "redis.exceptions.TimeoutError",
        # redis-py's ConnectionError for a server that is up again but still
        # reading its append-only file ("LOADING"): the same outage, later.
        "redis.exceptions.BusyLoadingError",
    }, report


class SmtpProcess:
    """An aiosmtpd server in a process of its own, storing every accepted
    message in a maildir; ``kill()`` is a real server loss (SIGKILL)."""

    def __init__(self, maildir: Path, port: int) -> None:
        self.maildir = maildir
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(self.maildir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the SMTP server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def subjects(self) -> set[str]:
        box = mailbox.Maildir(self.maildir, create=False)
        return {str(message["Subject"]) for message in box}


async def test_smtp_server_lost_mid_sends(settings: Any, tmp_path: Path) -> None:
    server = SmtpProcess(tmp_path / "maildir", free_port())
    use_backend(settings, ONELOOP_SMTP, host="127.0.0.1", port=server.port, timeout=5)

    async def write(n: int) -> None:
        args = (f"m{n}", "body", "from@example.com", ["to@example.com"])
        if n % 2:
            sent = await oneloop.run_sync(send_mail, *args)
        else:
            sent = await asend_mail(*args)
        assert sent == 1

    acked: set[int] = set()
    errors: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    await asyncio.to_thread(server.start)
    try:
        writers = asyncio.create_task(_run_writers(write, acked, errors, stop))
        for _ in range(scale(1, 3)):
            await asyncio.sleep(1)
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(server.start)
            await asyncio.sleep(1)
        stop.set()
        await writers
        # Back: every new send succeeds.
        await asyncio.wait_for(
            asyncio.gather(*(write(10**6 + i) for i in range(20))), OP_BOUND
        )
    finally:
        await asyncio.to_thread(server.kill)

    received = server.subjects()
    lost = {n for n in acked if f"m{n}" not in received}
    report = {"acked": len(acked), "lost": len(lost), "errors": dict(errors)}
    print("smtp loss:", report)
    assert not lost, sorted(lost)[:20]
    assert "hung" not in errors, report
    assert errors, "the server loss was not seen"
    unexpected = {
        name
        for name in errors
        if not issubclass(_resolve(name), smtplib.SMTPException | OSError)
    }
    assert not unexpected, report


def _resolve(name: str) -> type:
    module, _, qualname = name.rpartition(".")
    obj: Any = __import__(module, fromlist=[qualname])
    return getattr(obj, qualname)
