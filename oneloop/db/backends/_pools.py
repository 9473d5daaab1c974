"""Connection pools of oneloop's ENGINEs: one per alias per event loop.

A pool belongs to the loop it was made on (each ``asyncio.run()`` is a new
loop), so pools are kept per loop and per alias, whatever the ENGINE. Every
ENGINE's pool reads the same ``OPTIONS["pool"]`` shape (``min_size``,
``max_size``, ``timeout``) and says the same things when it runs out.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS

from oneloop.bridge import await_, in_bridge

__all__ = [
    "DEFAULT_POOL",
    "LoopPool",
    "PoolLifecycle",
    "aclose_pools",
    "close_alias_pools",
    "closed_message",
    "loop_pool",
    "timeout_message",
]

# Pool settings used in a bridge when OPTIONS has no "pool".
DEFAULT_POOL: dict[str, Any] = {"min_size": 1, "max_size": 10, "timeout": 30.0}


class LoopPool(Protocol):
    """What the registry needs of an ENGINE's pool."""

    async def aclose(self) -> None:
        """Close the pool and its connections (on its own loop)."""

    def close(self) -> None:
        """``aclose()`` from sync code in a bridge on the pool's loop."""

    def discard(self) -> None:
        """End every connection without waiting on a loop."""


class PoolLifecycle:
    """Opening and closing shared by the ENGINEs' pools.

    ``open()`` (sync, in a bridge) fills the pool once: every first caller
    waits for the same opening, and a failed opening is retried by the next
    call. Once open, the pool closes itself when its loop shuts down
    (``asyncio.run`` and ``asyncio.Runner`` close every async generator they
    know; asyncio has no other "loop closing" hook).
    """

    _opening: asyncio.Future[None] | None = None
    _keeper: Any = None

    async def _fill(self) -> None:
        """Open the pool's first connections (``min_size``)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        opening = self._opening
        if not opening.done():
            try:
                await_(asyncio.shield(opening))
            except BaseException:
                if not opening.done():
                    raise  # this caller was cancelled; the opening goes on
        if opening.exception() is not None:
            if self._opening is opening:
                self._opening = None  # the next call retries
            opening.result()

    async def _open(self) -> None:
        # Wait for min_size connections now: a pool still connecting in the
        # background when the loop shuts down would delay the shutdown.
        await self._fill()
        self._keeper = _close_at_shutdown(weakref.ref(self))
        await self._keeper.asend(None)


async def _close_at_shutdown(pool: weakref.ref[PoolLifecycle]) -> Any:
    """Closes the pool when the loop shuts down. It holds the pool weakly: a
    pool dropped earlier (closed by ``close_alias_pools``) is freed with its
    keeper, instead of being brought back by the loop's async-generator
    finalizer and freed later, in the middle of some other work."""
    try:
        yield
    finally:
        alive = pool()
        if alive is not None:
            await alive.aclose()


# event loop -> alias -> pool.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]]
_pools = weakref.WeakKeyDictionary()


def loop_pool(wrapper: Any, make: Callable[[dict[str, Any]], Any]) -> Any:
    """The running loop's pool for ``wrapper``'s alias, made on first use by
    ``make(options)`` with ``OPTIONS["pool"]`` or, when that is absent,
    ``DEFAULT_POOL``; ``None`` for ``OPTIONS["pool"] = False`` (each
    connection opened and closed by itself)."""
    options = wrapper.settings_dict["OPTIONS"].get("pool")
    if options is False or wrapper.alias == NO_DB_ALIAS:
        return None
    loop = asyncio.get_running_loop()
    per_loop = _pools.get(loop)
    if per_loop is None:
        per_loop = _pools[loop] = {}
    pool = per_loop.get(wrapper.alias)
    if pool is None:
        max_age = wrapper.settings_dict.get("CONN_MAX_AGE")
        if options is not None and max_age:
            # Django's own refusal, for the same reason (its sentence first),
            # naming the alias and the fix.
            raise ImproperlyConfigured(
                "Pooling doesn't support persistent connections. "
                f"DATABASES[{wrapper.alias!r}] has OPTIONS['pool'] and "
                f"CONN_MAX_AGE = {max_age!r}: remove CONN_MAX_AGE, or set "
                "OPTIONS['pool'] to False."
            )
        if not isinstance(options, dict):
            options = DEFAULT_POOL
        pool = per_loop[wrapper.alias] = make(options)
    return pool


def close_alias_pools(alias: str) -> None:
    """Close ``alias``'s pools on every loop: the running loop's by closing it
    (from a bridge), another loop's (possibly stopped) by ending its
    connections at once."""
    here = asyncio.get_running_loop() if in_bridge() else None
    for loop, per_loop in list(_pools.items()):
        pool = per_loop.pop(alias, None)
        if pool is None:
            continue
        if loop is here:
            pool.close()
        else:
            pool.discard()


async def aclose_pools() -> None:
    """Close the connection pools of the running loop."""
    per_loop = _pools.pop(asyncio.get_running_loop(), {})
    for pool in per_loop.values():
        await pool.aclose()


def timeout_message(
    alias: str, timeout: float, max_size: int, budget: bool = False
) -> str:
    """What a pool says when no connection came free in time. ``budget``:
    the pool shares the process's budget for the alias with the alias's
    other pools (see ``_budget``)."""
    if budget:
        busy = (
            f"this process already holds the {max_size} connections "
            "OPTIONS['pool']['max_size'] allows it, all in use (the event "
            "loop's pool, Django's sync pool, SYNC_VIEWS='thread' views and "
            "offload() threads share them)"
        )
    else:
        busy = f"all {max_size} connections of its pool are in use"
    return (
        f"No connection for database alias {alias!r} within {timeout} s: "
        f"{busy}. Raise OPTIONS['pool']['max_size'] (and the server's "
        "max_connections), raise OPTIONS['pool']['timeout'], or do less work "
        "at once."
    )


def closed_message(alias: str) -> str:
    """What a closed pool says when asked for a connection."""
    return (
        f"The connection pool of database alias {alias!r} is closed (the event "
        "loop that owned it shut down, or close_pool() was called). A new pool "
        "is made on the next connection from a running loop."
    )
