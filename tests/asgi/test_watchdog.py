"""The loop-block watchdog, in process: real stalls of the test's own loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from oneloop.bridge import offload, run_sync
from oneloop.watchdog import (
    LoopWatchdog,
    get_watchdog,
    start_watchdog,
    stop_watchdog,
)

THRESHOLD_MS = 60


class LoggedWarnings(logging.Handler):
    """The watchdog's warnings as its monitor thread logs them; a test awaits
    them instead of sleeping."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._loop = loop
        self._arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._loop.call_soon_threadsafe(self._arrived.set)

    async def wait_for(self, count: int) -> list[str]:
        """Wait until ``count`` warnings have been logged; return them all."""
        async with asyncio.timeout(5):
            while len(self.messages) < count:
                self._arrived.clear()
                if len(self.messages) < count:
                    await self._arrived.wait()
        return self.messages


async def monitor_caught_up(watchdog: LoopWatchdog) -> None:
    """Wait, with the loop idle, until the monitor thread has looked at the
    loop three times (the first look may have begun before this call, the
    second before the loop ran its overdue heartbeat): by then every stall
    before this call has been reported, or dismissed."""
    seen = watchdog.checks
    # The monitor thread offers a counter, not an event; the loop stays idle.
    while watchdog.checks < seen + 3:  # noqa: ASYNC110
        await asyncio.sleep(watchdog.period)


@pytest.fixture
async def logged():
    logger = logging.getLogger("oneloop.watchdog")
    handler = LoggedWarnings(asyncio.get_running_loop())
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
async def watchdog(logged):
    running = start_watchdog(threshold_ms=THRESHOLD_MS)
    await monitor_caught_up(running)  # watching from now on
    yield running
    stop_watchdog()
    running._thread.join(1)
    assert not running._thread.is_alive()


def blocking_view() -> str:
    time.sleep(0.25)  # the line the warning must name
    return "done"


BLOCKING_LINE = blocking_view.__code__.co_firstlineno + 1


async def test_a_blocking_sync_call_in_a_bridge_is_reported_once(watchdog, logged):
    assert await run_sync(blocking_view) == "done"
    messages = await logged.wait_for(1)
    await monitor_caught_up(watchdog)
    assert len(messages) == 1, messages
    assert f"{__file__}:{BLOCKING_LINE} in blocking_view" in messages[0]
    assert "time.sleep(0.25)" in messages[0]
    assert "oneloop.offload" in messages[0]
    assert watchdog.warnings_logged == 1


async def test_blocking_async_code_is_reported(watchdog, logged):
    time.sleep(0.2)  # noqa: ASYNC251 (the point of the test)
    messages = await logged.wait_for(1)
    await monitor_caught_up(watchdog)
    assert len(messages) == 1
    assert "test_blocking_async_code_is_reported" in messages[0]


async def test_cpu_bound_code_is_reported(watchdog, logged):
    def spin() -> None:
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            sum(range(500))

    await run_sync(spin)
    messages = await logged.wait_for(1)
    await monitor_caught_up(watchdog)
    assert len(messages) == 1
    assert "in spin" in messages[0]


async def test_offloaded_calls_and_short_callbacks_are_not_reported(watchdog, logged):
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
    await monitor_caught_up(watchdog)
    assert logged.messages == []


async def test_one_watchdog_per_loop(watchdog):
    def monitors() -> int:
        # Watchdogs of loops closed by earlier tests may still be exiting.
        return [t.name for t in threading.enumerate()].count("oneloop-watchdog")

    before = monitors()
    assert start_watchdog(threshold_ms=500) is watchdog
    assert get_watchdog() is watchdog
    assert monitors() == before


def test_threshold_must_be_positive():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="positive number of milliseconds"):
            LoopWatchdog(loop, 0)
    finally:
        loop.close()
