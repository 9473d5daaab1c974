"""One connection budget per alias per process.

A process can reach an alias through several pools at once: Django's own
sync pool (used with no loop running, by ``SYNC_VIEWS="thread"`` views and
by ``offload()`` threads) and one async pool per event loop. Each pool keeps
to ``max_size`` by itself, so together they could hold several times that.
A ``Budget`` is the one count they all share: a pool takes a place before it
opens a connection and the place comes back when the connection closes.
When the budget is full, a pool's background connect waits for a place (a
thread blocks, a loop awaits; the pool's clients wait up to its ``timeout``
as for any busy pool); and a pool that is given back a connection, or holds
an idle one, while another pool of the alias waits, closes it so its place
goes to the waiter.

Cost: a take and a give-back per physical connection, nothing per query.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from typing import Any, Protocol

from psycopg_pool import PoolClosed

from oneloop.db.backends._pools import DEFAULT_POOL, closed_message

__all__ = ["Budget", "Lender", "budget_for", "budget_size", "release"]

# How often a waiting pool checks that it is still open: it waits for as
# long as it takes (its clients have their own timeout), but not past its
# own closing.
_RECHECK = 1.0

# psycopg_pool's default min_size, which is also its max_size when none is
# given.
_PSYCOPG_MIN_SIZE = 4


class Lender(Protocol):
    """A pool that can close one of its idle connections for another pool of
    the same alias that waits for a place."""

    def lend(self) -> None:
        """Close one idle connection, if it has one (from any thread)."""


class _Waiter:
    """One pool waiting for a place: a thread (``loop`` is ``None``) or a
    task on ``loop``. ``granted`` is set, under the budget's lock, when a
    place was handed to it."""

    __slots__ = ("event", "future", "granted", "loop", "owner")

    def __init__(self, owner: object, loop: asyncio.AbstractEventLoop | None) -> None:
        self.owner = owner
        self.loop = loop
        self.granted = False
        self.event = threading.Event() if loop is None else None
        self.future = loop.create_future() if loop is not None else None

    def wake(self) -> bool:
        """Tell the waiter it has a place; False when it can no longer hear
        (its loop is closed)."""
        if self.event is not None:
            self.event.set()
            return True
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)  # type: ignore[union-attr]
        except RuntimeError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Budget:
    """The physical connections one process holds to one alias, at most
    ``size``, shared by every pool of the alias. Thread-safe: pools on
    different threads and loops take and give back places."""

    def __init__(self, alias: str, size: int) -> None:
        self.alias = alias
        self.size = size
        self.held = 0
        # Reentrant: a connection collected by the garbage collector gives
        # its place back from whatever code the collection interrupted.
        self._lock = threading.RLock()
        self._waiters: deque[_Waiter] = deque()
        self._lenders: weakref.WeakSet[Any] = weakref.WeakSet()

    def add_lender(self, lender: Lender) -> None:
        """Let ``lender`` be asked for an idle connection when another pool
        waits."""
        self._lenders.add(lender)

    def others_waiting(self, owner: object) -> bool:
        """True when a pool other than ``owner`` waits for a place: a
        connection ``owner`` is given back should then be closed."""
        return any(waiter.owner is not owner for waiter in self._waiters)

    def take(self, pool: Any) -> None:
        """Take a place for ``pool`` (a sync pool's background connect),
        blocking this thread until one comes free or the pool closes."""
        while True:
            with self._lock:
                if self.held < self.size and not self._waiters:
                    self.held += 1
                    return
                waiter = _Waiter(pool, None)
                self._waiters.append(waiter)
            self._ask_lenders(pool)
            if waiter.event.wait(_RECHECK):  # type: ignore[union-attr]
                return
            with self._lock:
                if waiter.granted:
                    return
                self._waiters.remove(waiter)
            if pool.closed:
                raise PoolClosed(closed_message(self.alias))

    async def atake(self, pool: Any) -> None:
        """Take a place for ``pool`` (an async pool's background connect),
        awaiting (the loop runs meanwhile) until one comes free or the pool
        closes."""
        while True:
            with self._lock:
                if self.held < self.size and not self._waiters:
                    self.held += 1
                    return
                waiter = _Waiter(pool, asyncio.get_running_loop())
                self._waiters.append(waiter)
            self._ask_lenders(pool)
            try:
                async with asyncio.timeout(_RECHECK):
                    await waiter.future  # type: ignore[misc]
                return
            except BaseException as exc:
                with self._lock:
                    if not waiter.granted:
                        self._waiters.remove(waiter)
                    elif isinstance(exc, TimeoutError):
                        return  # the place came with the timeout: keep it
                    else:
                        self.give_back()  # cancelled with a place: pass it on
                if not isinstance(exc, TimeoutError):
                    raise
            if pool.closed:
                raise PoolClosed(closed_message(self.alias))

    def give_back(self) -> None:
        """Free a place: hand it to the first waiter, if any."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                if waiter.wake():
                    return
            self.held -= 1

    def _ask_lenders(self, owner: object) -> None:
        for lender in list(self._lenders):
            if lender is not owner:
                lender.lend()

    def hold(self, connection: Any) -> None:
        """Tie a place just taken to ``connection``: given back when the
        connection closes (``release``), or when it is collected unclosed."""
        connection._oneloop_place = weakref.finalize(connection, self.give_back)


def release(connection: Any) -> None:
    """Give back the budget place of ``connection`` (closed, or about to
    be). Safe to call more than once, and on a connection with no place."""
    place = getattr(connection, "_oneloop_place", None)
    if place is not None:
        place()


# (alias, size) -> the process's budget. Keyed by size too: a test that
# changes an alias's settings gets a budget of the new size.
_budgets: dict[tuple[str, int], Budget] = {}
_budgets_lock = threading.Lock()


def budget_size(pool_options: Any) -> int:
    """The budget of an alias whose ``OPTIONS["pool"]`` is ``pool_options``:
    its ``max_size`` as psycopg_pool reads it (``min_size`` when absent),
    and for ``True`` or no option the loop pool's default maximum."""
    if isinstance(pool_options, dict):
        return pool_options.get(
            "max_size", pool_options.get("min_size", _PSYCOPG_MIN_SIZE)
        )
    return DEFAULT_POOL["max_size"]


def budget_for(alias: str, pool_options: Any) -> Budget:
    """The process's budget for ``alias``."""
    key = (alias, budget_size(pool_options))
    budget = _budgets.get(key)
    if budget is None:
        with _budgets_lock:
            budget = _budgets.setdefault(key, Budget(*key))
    return budget
