"""The loop-block watchdog, in process: real stalls of the test's own loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from oneloop.bridge import offload, run_sync
from oneloop.watchdog import get_watchdog, start_watchdog, stop_watchdog

THRESHOLD_MS = 60


@pytest.fixture
async def watchdog(caplog):
    caplog.set_level(logging.WARNING, logger="oneloop.watchdog")
    running = start_watchdog(threshold_ms=THRESHOLD_MS)
    await asyncio.sleep(0.05)  # first heartbeats
    yield running
    stop_watchdog()
    running._thread.join(1)
    assert not running._thread.is_alive()


def watchdog_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "oneloop.watchdog"]


async def settle() -> None:
    """Give the monitor thread time to see the stall end and log it."""
    await asyncio.sleep(0.15)


def blocking_view() -> str:
    time.sleep(0.25)  # the line the warning must name
    return "done"


BLOCKING_LINE = blocking_view.__code__.co_firstlineno + 1


async def test_a_blocking_sync_call_in_a_bridge_is_reported_once(watchdog, caplog):
    assert await run_sync(blocking_view) == "done"
    await settle()
    messages = watchdog_messages(caplog)
    assert len(messages) == 1, messages
    assert f"{__file__}:{BLOCKING_LINE} in blocking_view" in messages[0]
    assert "time.sleep(0.25)" in messages[0]
    assert "oneloop.offload" in messages[0]
    assert watchdog.warnings_logged == 1


async def test_blocking_async_code_is_reported(watchdog, caplog):
    time.sleep(0.2)  # noqa: ASYNC251 (the point of the test)
    await settle()
    messages = watchdog_messages(caplog)
    assert len(messages) == 1
    assert "test_blocking_async_code_is_reported" in messages[0]


async def test_cpu_bound_code_is_reported(watchdog, caplog):
    def spin() -> None:
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            sum(range(500))

    await run_sync(spin)
    await settle()
    messages = watchdog_messages(caplog)
    assert len(messages) == 1
    assert "in spin" in messages[0]


async def test_offloaded_calls_and_short_callbacks_are_not_reported(watchdog, caplog):
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await run_sync(lambda: offload(time.sleep, 0.25))
    ticking.cancel()
    assert ticks >= 10  # the loop went on during the offloaded sleep

    # Many short callbacks in one loop iteration: busy, but no single
    # blocking call to blame.
    loop = asyncio.get_running_loop()

    def short() -> None:
        end = time.monotonic() + 0.002
        while time.monotonic() < end:
            pass

    for _ in range(100):
        loop.call_soon(short)
    await asyncio.sleep(0)
    await settle()
    assert watchdog_messages(caplog) == []


async def test_one_watchdog_per_loop(watchdog):
    def monitors() -> int:
        # Watchdogs of loops closed by earlier tests may still be exiting.
        return [t.name for t in threading.enumerate()].count("oneloop-watchdog")

    before = monitors()
    assert start_watchdog(threshold_ms=500) is watchdog
    assert get_watchdog() is watchdog
    assert monitors() == before


def test_threshold_must_be_positive():
    from oneloop.watchdog import LoopWatchdog

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="positive number of milliseconds"):
            LoopWatchdog(loop, 0)
    finally:
        loop.close()
