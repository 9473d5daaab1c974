"""Per-task database connections.

Stock Django keeps one ``DatabaseWrapper`` per alias *per thread*. On one
event loop every request shares the thread, so oneloop keeps them *per task*
while code runs in a bridge:

* each task gets its own ``DatabaseWrapper`` per alias (its own pooled
  connection, its own transaction state);
* a child task (``asyncio.gather``, ``oneloop.gather``) whose parent is inside
  ``atomic`` on that alias uses the parent's wrapper, so it sees the
  uncommitted rows; outside ``atomic`` it takes its own connection, so child
  queries really run in parallel;
* a *pinned* alias (a test transaction, see :func:`pin`) resolves to the
  pinning thread's wrapper in every task, and in async code running directly
  on any loop (an ``async def`` test); an in-memory SQLite database resolves
  to one wrapper per loop;
* when the task is done its connections go back to the pool, rolled back if
  a transaction was left open.

Outside a bridge nothing changes (pinned aliases on a running loop aside):
the thread-local storage of stock Django is used, at stock cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from asyncio import _get_running_loop
from collections.abc import Iterator
from typing import Any

from django.db import connections as django_connections
from django.db.utils import ConnectionHandler

from oneloop.bridge import (
    TaskScope,
    current_scope,
    run_sync,
    run_sync_shielded,
    task_scope,
)
from oneloop.db.backends import wrapper_class

__all__ = [
    "TaskConnectionHandler",
    "aclose_connections",
    "close_connections",
    "close_idle_connections",
    "pin",
    "pinned",
    "share_on_loop",
]

logger = logging.getLogger("oneloop.connections")

# Tasks giving connections back; referenced so they are not collected early.
_closing: set[asyncio.Task] = set()

# loop -> alias -> the wrapper all its tasks share (in-memory SQLite).
_loop_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]]
_loop_shared = weakref.WeakKeyDictionary()


class _Pin:
    """An alias's pinned wrapper: which thread owns it, how many ``pin()``
    blocks hold it, and whether the pin shared it with other threads."""

    __slots__ = ("holders", "owner", "shared", "wrapper")

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper
        self.owner = threading.get_ident()
        self.holders = 1
        self.shared = False

    def use(self) -> Any:
        """The wrapper, for the calling thread. Shared with other threads
        (``inc_thread_sharing()``) the first time one of them uses it, not
        before: until then the pin leaves the wrapper as Django made it."""
        if not self.shared and threading.get_ident() != self.owner:
            with _sharing:
                if not self.shared:
                    self.wrapper.inc_thread_sharing()
                    self.shared = True
        return self.wrapper


_pins: dict[str, _Pin] = {}
_sharing = threading.Lock()


class TaskConnectionHandler(ConnectionHandler):
    """``django.db.connections`` while oneloop is installed: per-task wrappers
    inside a bridge, per-thread wrappers (stock behaviour) elsewhere."""

    def __getitem__(self, alias: str) -> Any:
        scope = current_scope()
        if scope is None:
            if _pins and alias in _pins and _get_running_loop() is not None:
                # Async code on a loop (an ``async def`` test) sees the test's
                # pinned connection, as code in its bridges does.
                return _pins[alias].use()
            return ConnectionHandler.__getitem__(self, alias)
        try:
            return scope.connections[alias]
        except KeyError:
            return self._task_connection(scope, alias)

    def _task_connection(self, scope: TaskScope, alias: str) -> Any:
        pinned_to = _pins.get(alias)
        if pinned_to is not None:
            return pinned_to.use()
        parent = scope.parent
        while parent is not None:
            shared = parent.connections.get(alias)
            if shared is not None:
                if shared.in_atomic_block:
                    # Inside the parent's transaction: same connection, so the
                    # child sees its uncommitted rows. Not cached: once the
                    # parent leaves atomic, the child takes its own.
                    return shared
                break
            parent = parent.parent
        if alias not in self.settings:
            raise self.exception_class(f"The connection '{alias}' doesn't exist.")
        if _shares_one_connection(self.settings[alias]):
            return self._loop_shared(alias)
        conn = self.create_connection(alias)
        self[alias] = conn
        return conn

    def _loop_shared(self, alias: str) -> Any:
        """The one wrapper every task of this loop uses for ``alias``."""
        per_loop = _shared_on_running_loop()
        conn = per_loop.get(alias)
        if conn is None:
            conn = per_loop[alias] = self.create_connection(alias)
        return conn

    def __setitem__(self, alias: str, conn: Any) -> None:
        scope = current_scope()
        if scope is None:
            ConnectionHandler.__setitem__(self, alias, conn)
            return
        if not scope.connections:
            scope.add_finalizer(_release_scope)
        scope.connections[alias] = conn

    def __delitem__(self, alias: str) -> None:
        scope = current_scope()
        if scope is None:
            ConnectionHandler.__delitem__(self, alias)
        else:
            del scope.connections[alias]

    def all(self, initialized_only: bool = False) -> list[Any]:
        scope = current_scope()
        if scope is None and not (_pins and _get_running_loop() is not None):
            # Called exactly as stock code calls it (tests patch it).
            return super().all(initialized_only) if initialized_only else super().all()
        if not initialized_only:
            return [self[alias] for alias in self]
        if scope is None:
            return [
                self[alias]
                for alias in self
                if alias in _pins or hasattr(self._connections, alias)
            ]
        shared = _loop_shared.get(asyncio.get_running_loop(), {})
        return [
            self[alias]
            for alias in self
            if alias in _pins or alias in scope.connections or alias in shared
        ]


def _shared_on_running_loop() -> dict[str, Any]:
    """alias -> the wrapper every task of the running loop shares."""
    loop = asyncio.get_running_loop()
    per_loop = _loop_shared.get(loop)
    if per_loop is None:
        per_loop = _loop_shared[loop] = {}
        # Dropped with the loop: close what the garbage collector would
        # not (an unclosed sqlite3 connection; Python 3.13 warns).
        weakref.finalize(loop, _discard_open, per_loop.values())
    return per_loop


@contextlib.contextmanager
def share_on_loop(wrappers: dict[str, Any]) -> Iterator[None]:
    """Make every task of the running loop use ``wrappers`` (alias ->
    wrapper) for the aliases whose database exists once per connection (an
    in-memory SQLite database), while the block runs.

    The live server's loop gets the test's connections this way, as Django
    hands them to its live server thread. The wrappers stay their owner's:
    they are neither closed nor discarded here.
    """
    per_loop = _shared_on_running_loop()
    lent = {
        alias: wrapper
        for alias, wrapper in wrappers.items()
        if _shares_one_connection(wrapper.settings_dict) and alias not in per_loop
    }
    per_loop.update(lent)
    try:
        yield
    finally:
        for alias in lent:
            del per_loop[alias]


def _shares_one_connection(settings_dict: dict[str, Any]) -> bool:
    """An in-memory SQLite database exists once per connection (or, in shared
    cache mode, locks whole tables): every task of a loop uses one connection,
    serialized by its worker thread. Transactions of concurrent tasks then
    share it too; use a file database for concurrent writers."""
    backend = wrapper_class(settings_dict)
    if backend is None or backend.vendor != "sqlite":
        return False
    name = str(settings_dict.get("NAME") or "")
    test_name = str((settings_dict.get("TEST") or {}).get("NAME") or "")
    return (
        name in ("", ":memory:")
        or "mode=memory" in name
        or (name.startswith("file:memorydb") and not test_name)
    )


@contextlib.contextmanager
def pin(*aliases: str) -> Iterator[None]:
    """Make every task, on any thread, use the calling thread's connection for
    ``aliases`` (all aliases when none are given) while the block runs.

    This is how tests keep Django's ``TestCase`` isolation: the test's
    transaction lives on that one connection, and requests, async tests and
    child tasks all run inside it. Queries on a pinned alias are serialized
    by that connection; it stays sync (it was opened outside any bridge).
    """
    names = aliases or tuple(django_connections)
    for alias in names:
        entry = _pins.get(alias)
        if entry is None:
            _pins[alias] = _Pin(
                ConnectionHandler.__getitem__(django_connections, alias)
            )
        else:
            entry.holders += 1
    try:
        yield
    finally:
        for alias in names:
            entry = _pins[alias]
            entry.holders -= 1
            if not entry.holders:
                del _pins[alias]
                # Code in the block may have released the sharing itself
                # (Django's ThreadTests do): never go below zero.
                if entry.shared and entry.wrapper.allow_thread_sharing:
                    entry.wrapper.dec_thread_sharing()


def pinned(alias: str) -> Any:
    """The wrapper ``alias`` is pinned to now, or ``None``."""
    entry = _pins.get(alias)
    return entry.wrapper if entry is not None else None


def _close_wrappers(wrappers: list[Any]) -> None:
    """Close each wrapper (its backend returns the connection to its pool,
    rolled back if a transaction was left open). Runs in a bridge."""
    for wrapper in wrappers:
        try:
            wrapper.close()
        except Exception:
            logger.exception(
                "Closing the %r connection of a finished task failed; it was "
                "discarded instead.",
                wrapper.alias,
            )
            _discard(wrapper)


def _discard(wrapper: Any) -> None:
    """Drop a connection without any IO: the last resort when no loop can
    run the clean close (the loop is shutting down)."""
    raw, wrapper.connection = wrapper.connection, None
    discard = getattr(raw, "discard", None)
    if discard is not None:
        discard()


def _take_open(scope: TaskScope) -> list[Any]:
    wrappers = [w for w in scope.connections.values() if w.connection is not None]
    scope.connections.clear()
    return wrappers


def _release_scope(scope: TaskScope) -> None:
    """Finalizer of a finished task: give its connections back. Runs on the
    loop, outside any bridge, from the task's done callback."""
    wrappers = _take_open(scope)
    if not wrappers:
        return
    try:
        loop = asyncio.get_running_loop()
        if loop.is_closed():
            raise RuntimeError("loop closed")
        task = loop.create_task(run_sync(_close_wrappers, wrappers))
        _closing.add(task)
        task.add_done_callback(_closing.discard)
        # Cancelled at loop shutdown (before it ran, or while it waited):
        # drop without IO what it did not close.
        task.add_done_callback(lambda _task: _discard_open(wrappers))
    except RuntimeError:
        _discard_open(wrappers)


def _discard_open(wrappers: list[Any]) -> None:
    for wrapper in wrappers:
        if wrapper.connection is not None:
            _discard(wrapper)


async def aclose_connections() -> None:
    """Return the calling task's connections to their pools now (rolled back
    if a transaction was left open), instead of when the task ends.

    Request handlers call it when the response is sent. A cancellation that
    arrives meanwhile is held until the connections are back, then re-raised;
    if it is still waiting after ``ONELOOP["CLEANUP_TIMEOUT"]`` seconds (a
    dead socket), the connections left are discarded instead.
    """
    scope = task_scope()
    if scope is None:
        return
    wrappers = _take_open(scope)
    if not wrappers:
        return
    try:
        await run_sync_shielded(_close_wrappers, wrappers)
    finally:
        _discard_open(wrappers)


def close_connections() -> None:
    """From sync code in a bridge: return this task's connections now."""
    scope = current_scope()
    if scope is not None:
        _close_wrappers(_take_open(scope))


def close_idle_connections() -> None:
    """From sync code in a bridge: return this task's connections that are
    not inside an ``atomic`` block to their pools (rolled back if a
    transaction was left open without one).

    For tasks that live long and run many handlers, such as a WebSocket
    consumer: the task keeps its wrappers and takes a pooled connection
    again on its next query, so it holds one only while a handler runs.
    A connection inside ``atomic`` belongs to a caller's open transaction
    and stays.
    """
    scope = current_scope()
    if scope is not None:
        _close_wrappers(
            [
                wrapper
                for wrapper in scope.connections.values()
                if wrapper.connection is not None and not wrapper.in_atomic_block
            ]
        )
