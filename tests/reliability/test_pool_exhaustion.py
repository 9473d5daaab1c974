"""Pool exhaustion over HTTP: more concurrent requests than the pool has
connections, with a short pool timeout.

Requests that cannot get a connection in time fail with Django's
``OperationalError`` naming the alias, the pool size and the timeout; the
others succeed; nothing waits much longer than the timeout; afterwards the
pool serves every request again and has no connection checked out.
"""

from __future__ import annotations

import asyncio
import collections
import time

import httpx
import pytest

from tests.reliability.conftest import scale

pytestmark = [pytest.mark.reliability, pytest.mark.postgresql]

POOL_MAX = 4
TIMEOUT = 1.0
HOLD = 1.5


async def test_exhausted_pool_fails_cleanly_and_recovers(
    project_database: str, start_project
) -> None:
    server = start_project(
        project_database,
        ONELOOP_REL_POOL_MAX=str(POOL_MAX),
        ONELOOP_REL_POOL_TIMEOUT=str(TIMEOUT),
    )
    requests = scale(30, 200)
    outcomes: collections.Counter[str] = collections.Counter()
    messages: set[str] = set()
    async with httpx.AsyncClient(
        base_url=server.url,
        timeout=30,
        limits=httpx.Limits(max_connections=requests),
    ) as http:

        async def one() -> float:
            start = time.perf_counter()
            response = await http.get("/hold/", params={"s": HOLD})
            if response.status_code == 503:
                body = response.json()
                outcomes[body["error"]] += 1
                messages.add(body["message"])
            else:
                outcomes[str(response.status_code)] += 1
            return time.perf_counter() - start

        durations = await asyncio.gather(*(one() for _ in range(requests)))

        # Recovery: every request succeeds again, one after another and at once.
        for _ in range(10):
            assert (await http.get("/health/")).status_code == 200
        again = await asyncio.gather(*(http.get("/health/") for _ in range(POOL_MAX)))
        assert [r.status_code for r in again] == [200] * POOL_MAX

    stats = server.stats()
    print("pool exhaustion:", dict(outcomes), "slowest", max(durations), stats)
    assert set(outcomes) == {"200", "django.db.utils.OperationalError"}, outcomes
    assert outcomes["200"] >= POOL_MAX
    message = messages.pop()
    assert "'default'" in message and f"{POOL_MAX} connections" in message
    assert f"{TIMEOUT} s" in message
    # A request waits for the pool at most TIMEOUT, then holds HOLD; the
    # bound is generous for a loaded machine.
    assert max(durations) < TIMEOUT + HOLD + 10
    pool = stats["pool"]
    assert pool["pool_size"] - pool["pool_available"] == 0, pool
    assert pool["requests_waiting"] == 0, pool
    assert "Traceback" not in server.log()
