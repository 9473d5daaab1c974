"""The greenlet bridge: run unchanged sync code on the running event loop.

``run_sync(fn)`` runs ``fn`` in a *bridge greenlet* on the loop thread. When that
sync code reaches a real IO point it calls ``await_(coroutine)``: the bridge
greenlet switches back to the task that called ``run_sync``, the task awaits the
coroutine on the loop (other tasks run meanwhile), and switches back in with
the result. No thread is involved, so Django code that was written once, in
sync style, gets real concurrency.

This is the only module of oneloop that touches greenlets. Every switch is
marked ``# SWITCH``.

Vocabulary:

* *scope* (``TaskScope``): the state one asyncio task keeps across all the
  bridge greenlets it runs: its database connections and its clean-up hooks.
  A task gets its scope the first time it enters a bridge, and the scope
  finishes when the task is done.
* *worker*: a bridge greenlet. A scope keeps one idle worker and reuses it for
  the next ``run_sync`` of the same task (a new greenlet costs ~8 µs, a switch
  ~1 µs). Nested ``run_sync`` calls (an ORM ``a*()`` call from an async view)
  and new tasks (the next request) take a *parked* worker: an idle one left
  by a task that has finished, kept per thread (greenlets cannot change
  threads) with no context, scope or result of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar, overload

from django.core.exceptions import SynchronousOnlyOperation
from greenlet import GreenletExit, getcurrent, greenlet

__all__ = [
    "MissingBridge",
    "TaskScope",
    "await_",
    "current_scope",
    "gather",
    "in_bridge",
    "offload",
    "run_sync",
    "run_sync_shielded",
    "shielded",
    "sync_to_async",
    "task_scope",
]

P = ParamSpec("P")
T = TypeVar("T")


class MissingBridge(SynchronousOnlyOperation):
    """``await_()`` was called on a thread whose event loop is running, but
    outside a bridge greenlet, so there is nothing to switch back to."""


_MISSING_BRIDGE_MESSAGE = (
    "oneloop.await_() was called from code running directly on the event loop, "
    "outside a bridge: nothing can wait for {what!r} without blocking the loop. "
    "Call the sync code through `await oneloop.run_sync(fn, ...)` (or "
    "`oneloop.sync_to_async(fn)`), or await the coroutine directly in async code."
)


class _Outcome:
    """What a worker hands back to ``run_sync`` when ``fn`` has finished."""

    __slots__ = ("exception", "value")

    def __init__(self, value: Any, exception: BaseException | None) -> None:
        self.value = value
        self.exception = exception


class _Worker(greenlet):
    """A bridge greenlet. It runs jobs until told to stop, each for the scope
    it is lent to (``scope``; ``None`` while parked). ``shield`` counts the
    ``shielded()`` blocks it is inside."""

    __slots__ = ("scope", "shield")

    def __init__(self, scope: TaskScope | None) -> None:
        super().__init__(_worker_main)
        self.scope = scope
        self.shield = 0


def _worker_main(job: tuple[Callable[..., Any], tuple, dict] | None) -> None:
    """Run jobs, switching each outcome back to the ``run_sync`` that sent it.

    The loop lets one greenlet serve many ``run_sync`` calls, of one task and,
    once parked, of later ones. A job of ``None`` ends the greenlet.
    """
    while job is not None:
        fn, args, kwargs = job
        try:
            outcome = _Outcome(fn(*args, **kwargs), None)
        except GreenletExit:
            # Collected while suspended at an await_() (its run_sync is gone):
            # end here. Handing an outcome on would switch it into whichever
            # greenlet the collection happened in, and keep this one alive.
            raise
        except BaseException as exc:  # handed to the caller, which re-raises it
            outcome = _Outcome(None, exc)
        del fn, args, kwargs, job
        # SWITCH: back to run_sync with the outcome; resumes with the next job.
        job = getcurrent().parent.switch(outcome)


class TaskScope:
    """Per-task state shared by every bridge greenlet of one asyncio task.

    ``connections`` maps database aliases to the task's own ``DatabaseWrapper``
    (see ``oneloop.connections``); ``data`` is a plain dict for other adapters.
    ``parent`` is the scope of the task that created this task, so a child
    task can find what its parent holds (an open transaction). Finalizers run
    once, when the task is done.
    """

    __slots__ = (
        "__weakref__",
        "_finalizers",
        "_idle",
        "connections",
        "data",
        "parent",
        "task",
    )

    def __init__(self, task: asyncio.Task | None, parent: TaskScope | None) -> None:
        self.task = task
        self.parent = parent
        self.connections: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self._idle: _Worker | None = None
        self._finalizers: list[Callable[[TaskScope], None]] = []

    def add_finalizer(self, fn: Callable[[TaskScope], None]) -> None:
        """Call ``fn(scope)`` on the loop, outside any bridge, when the task is
        done. A finalizer that needs IO schedules it (see ``connections``)."""
        self._finalizers.append(fn)

    def _take_worker(self) -> _Worker:
        worker = self._idle
        if worker is not None:
            self._idle = None
            return worker
        parked = _parked.workers
        if parked:
            worker = parked.pop()
            worker.scope = self
            return worker
        return _Worker(self)

    def _give_back(self, worker: _Worker) -> None:
        """Keep ``worker``, which has just handed its outcome back, for the
        next ``run_sync`` of this task, or park it if one is kept already."""
        if worker.dead:
            return
        if self._idle is None:
            self._idle = worker
        else:
            _park(worker)

    def finish(self, _task: object = None) -> None:
        """End the scope: park its idle greenlet and run the finalizers."""
        worker, self._idle = self._idle, None
        if worker is not None and not worker.dead:
            _park(worker)
        finalizers, self._finalizers = self._finalizers, []
        for fn in finalizers:
            fn(self)

    def __repr__(self) -> str:
        return f"<TaskScope task={self.task!r} connections={list(self.connections)}>"


_MAX_PARKED = 256
"""How many idle workers a thread keeps for later tasks: enough for the
requests one loop has in flight at once; past it a finished task's worker
ends. A parked one holds a greenlet, a frame and its saved stack: ~3.4 KiB
measured with tracemalloc, so at most ~1 MiB per thread."""


class _Parked(threading.local):
    """This thread's parked workers (a greenlet only runs on its own thread)."""

    def __init__(self) -> None:
        self.workers: list[_Worker] = []


_parked = _Parked()


def _park(worker: _Worker) -> None:
    """Keep an idle worker for a later task, holding nothing of the last one
    (its context, scope); end it if the thread keeps enough."""
    worker.scope = None
    worker.gr_context = None
    parked = _parked.workers
    if len(parked) < _MAX_PARKED:
        parked.append(worker)
        return
    worker.parent = getcurrent()
    worker.switch(None)  # SWITCH: lets the worker's loop return.


_scope_var: contextvars.ContextVar[TaskScope | None] = contextvars.ContextVar(
    "oneloop_scope", default=None
)


def _enter_scope() -> TaskScope:
    """The scope of the running task, created on its first bridge."""
    task = asyncio.current_task()
    scope = _scope_var.get()
    if scope is not None and scope.task is task:
        return scope
    # A new task, or a child task that inherited its parent's context.
    scope = TaskScope(task, scope)
    _scope_var.set(scope)
    if task is not None:
        task.add_done_callback(scope.finish)
    return scope


def current_scope() -> TaskScope | None:
    """The scope of the bridge greenlet running now, or ``None`` outside any
    bridge. Cheap enough for hot paths (one C call and a type check)."""
    current = getcurrent()
    if current.__class__ is _Worker:
        return current.scope
    return None


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """From sync code in a bridge: a cancellation of the task that arrives
    inside the block is held until the block ends, then raised at the next
    ``await_()`` (or when the bridge returns). For steps that must not be cut
    in half: a COMMIT and the ``on_commit`` callbacks of what it committed.
    A cancellation held ``ONELOOP["CLEANUP_TIMEOUT"]`` seconds is delivered
    inside the block after all (a COMMIT on a dead socket would never end).
    Outside a bridge it does nothing."""
    current = getcurrent()
    if current.__class__ is not _Worker:
        yield
        return
    current.shield += 1
    try:
        yield
    finally:
        current.shield -= 1


def task_scope() -> TaskScope | None:
    """From async code: the running task's scope, if it has entered a bridge."""
    scope = _scope_var.get()
    if scope is not None and scope.task is asyncio.current_task():
        return scope
    return None


def in_bridge() -> bool:
    """True when called from sync code running inside a bridge greenlet."""
    return getcurrent().__class__ is _Worker


async def run_sync(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run sync ``fn(*args, **kwargs)`` in a bridge greenlet on this loop.

    Returns its result or raises its exception (with its traceback). Context
    variables are those of the calling task, so ``contextvars``, Django's
    ``asgiref.local.Local`` state and the task's connections are shared. If
    the task is cancelled, ``CancelledError`` is raised inside ``fn`` at its
    current ``await_``; the clean-up that follows (``finally``, ``atomic``
    rollback) then runs to completion even if more cancellations arrive, and
    the cancellation is re-raised afterwards. Up to a limit: a cancellation
    that is still waiting ``ONELOOP["CLEANUP_TIMEOUT"]`` seconds after the
    clean-up began is delivered at the await that holds it up, and every
    later ``await_`` of the clean-up raises it at once (a rollback on a dead
    socket must not make the task uncancellable).
    """
    __traceback_hide__ = True  # read by Django's debug page
    return await _run(fn, args, kwargs, False)


async def run_sync_shielded(fn: Callable[..., T], /, *args: Any) -> T:
    """``run_sync`` for clean-up code (a rollback, giving a connection back):
    it runs to completion even if the task is cancelled meanwhile, and the
    cancellation is re-raised afterwards. A cancellation still waiting
    ``ONELOOP["CLEANUP_TIMEOUT"]`` seconds after it came is delivered, as in
    ``run_sync``."""
    __traceback_hide__ = True
    return await _run(fn, args, {}, True)


async def _run(
    fn: Callable[..., T], args: tuple, kwargs: dict[str, Any], unwinding: bool
) -> T:
    __traceback_hide__ = True
    scope = _enter_scope()
    worker = scope._take_worker()
    here = getcurrent()
    if worker.parent is not here:
        worker.parent = here
    if worker.gr_context is not here.gr_context:
        # The worker shares the task's Context object itself, not a copy.
        worker.gr_context = here.gr_context
    # SWITCH: into the worker with the job; it comes back with an awaitable
    # to wait for, or with the outcome.
    request = worker.switch((fn, args, kwargs))
    cancelled_again = False  # another cancellation came during the clean-up
    held = False  # a cancellation waits for the end of a shielded() block
    # When the clean-up stops being shielded: set by the first cancellation
    # that starts (or is held by) a clean-up. Past it, a waiting cancellation
    # is delivered and every later await_() fails at once ("abandoned").
    deadline: float | None = None
    abandoned = False
    while request.__class__ is not _Outcome:
        if abandoned or (held and not worker.shield):
            # SWITCH: deliver the held cancellation at this await_().
            held = False
            unwinding = True
            if deadline is None:
                deadline = _clean_up_deadline()
            if inspect.iscoroutine(request):
                request.close()
            request = worker.throw(asyncio.CancelledError())
            continue
        try:
            if unwinding or worker.shield:
                value, again, deadline = await _await_shielded(
                    request, deadline, held or cancelled_again
                )
                if again and unwinding:
                    cancelled_again = True
                elif again:
                    held = True
            else:
                value = await request
        except _CleanUpOverdue as exc:
            # The clean-up outlived its deadline with a cancellation
            # waiting: give up on it. The sync code sees the
            # cancellation here and at any later await_(), so it unwinds
            # without IO; whoever holds a connection discards it.
            abandoned = cancelled_again = True
            _adopt(worker)
            # SWITCH: raise the cancellation at the overdue await_().
            request = worker.throw(asyncio.CancelledError(str(exc)))
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                unwinding = True
                if deadline is None:
                    deadline = _clean_up_deadline()
            _adopt(worker)
            # SWITCH: raise the error inside the sync code at its await_(),
            # with its traceback from the loop side.
            request = worker.throw(type(exc), exc, exc.__traceback__)
        else:
            _adopt(worker)
            # SWITCH: resume the sync code with the awaited value.
            request = worker.switch(value)
    # Only a worker that handed its outcome back is reused: one left waiting
    # at an await_() (an error above) must never get another job; dropped,
    # it is collected and unwinds (see _worker_main). Its frame holds the
    # outcome until the next job: emptied, it keeps nothing of this task's.
    value, exception = request.value, request.exception
    request.value = request.exception = None
    scope._give_back(worker)
    cancelled_again = cancelled_again or held
    if exception is not None:
        if cancelled_again and not isinstance(exception, asyncio.CancelledError):
            raise asyncio.CancelledError() from exception
        raise exception
    if cancelled_again:
        raise asyncio.CancelledError()
    return value


def _adopt(worker: _Worker) -> None:
    """Make the greenlet running the loop now the parent of ``worker``, before
    switching back into it after an ``await``: the next ``await_()`` or the
    outcome must come back here. The loop need not run in the same greenlet
    across an ``await`` (a runner that calls ``loop.run_until_complete()``
    from a new greenlet each time resumes pending tasks in the new one);
    switching to a parent that has ended would land in that parent's
    parent instead."""
    here = getcurrent()
    if worker.parent is not here:
        worker.parent = here


class _CleanUpOverdue(asyncio.CancelledError):
    """A clean-up await outlived the clean-up deadline while a cancellation
    was waiting for it (private: the sync code sees a CancelledError)."""


def _clean_up_deadline() -> float:
    """``loop.time()`` at which a shielded clean-up stops being shielded:
    now plus ``ONELOOP["CLEANUP_TIMEOUT"]`` seconds."""
    from oneloop import conf

    return asyncio.get_running_loop().time() + conf.clean_up_timeout()


async def _await_shielded(
    awaitable: Awaitable[Any], deadline: float | None, pending: bool
) -> tuple[Any, bool, float | None]:
    """Await ``awaitable`` to the end even if the task is cancelled meanwhile,
    for clean-up code (sync code unwinding after a cancellation, a
    ``shielded()`` block). Return its value, whether a cancellation came,
    and the clean-up deadline.

    Bounded: once a cancellation waits (``pending``, or one arrives now),
    the await lasts at most until ``deadline`` (set then, if it is not yet).
    Past it, ``awaitable`` is cancelled and ``_CleanUpOverdue`` raised: a
    rollback on a dead socket must not make the task uncancellable.
    """
    loop = asyncio.get_running_loop()
    future = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        timeout = None
        if pending or cancelled:
            if deadline is None:
                deadline = _clean_up_deadline()
            timeout = deadline - loop.time()
            if timeout <= 0:
                future.cancel()
                raise _CleanUpOverdue(
                    "The clean-up after a cancellation did not finish within "
                    "ONELOOP['CLEANUP_TIMEOUT'] and the task was cancelled "
                    "again: it was abandoned."
                )
        try:
            await asyncio.wait((future,), timeout=timeout)
        except asyncio.CancelledError:
            cancelled = True
        if future.done():
            # A value that came with a cancellation is kept.
            return future.result(), cancelled, deadline


@overload
def await_(awaitable: Coroutine[Any, Any, T]) -> T: ...
@overload
def await_(awaitable: Awaitable[T]) -> T: ...
def await_(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` from sync code and return its result.

    * Inside a bridge greenlet: suspend the greenlet, let the loop await it,
      resume with the result. Other tasks run meanwhile.
    * With no loop running in this thread (plain sync code): run it to
      completion on this thread's private loop, so code written once works in
      both worlds.
    * On a thread whose loop is running, outside a bridge: raise
      ``MissingBridge`` (blocking there would stall every other task).
    """
    current = getcurrent()
    if current.__class__ is _Worker:
        # SWITCH: to run_sync, which awaits it and switches back with the result.
        return current.parent.switch(awaitable)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_privately(awaitable)
    if inspect.iscoroutine(awaitable):
        awaitable.close()  # no "never awaited" warning on top of the error
    raise MissingBridge(_MISSING_BRIDGE_MESSAGE.format(what=awaitable))


class _LoopOwner:
    """Holds a thread's private loop; dropped with the thread's locals when
    the thread ends, and closes the loop then."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()


class _PrivateLoop(threading.local):
    """This thread's loop for ``await_()`` from plain sync code. It lives as
    long as the thread, so what a call opens on it (an SMTP connection kept
    by ``with backend:``, a connection pool) can serve the next call."""

    owner: _LoopOwner | None = None


_private = _PrivateLoop()


def _run_privately(awaitable: Awaitable[T]) -> T:
    owner = _private.owner
    if owner is None or owner.loop.is_closed():
        owner = _private.owner = _LoopOwner()
    return owner.loop.run_until_complete(awaitable)


def gather(
    *items: Awaitable[Any] | Callable[[], Any], return_exceptions: bool = False
) -> list[Any]:
    """From sync code: run several things concurrently, return results in order.

    Each item is an awaitable, or a callable taking no arguments which runs in
    its own bridge greenlet and task (so, outside ``atomic``, on its own
    database connection). Use ``functools.partial`` to pass arguments.
    """
    aws = [
        item if inspect.isawaitable(item) else run_sync(item)  # type: ignore[arg-type]
        for item in items
    ]
    return await_(_gather(aws, return_exceptions))


async def _gather(aws: list[Awaitable[Any]], return_exceptions: bool) -> list[Any]:
    return await asyncio.gather(*aws, return_exceptions=return_exceptions)


def offload(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a truly blocking call (``requests.get``, CPU-heavy work, a C library
    that does its own IO) in a worker thread without blocking the loop.

    From a bridge, the greenlet waits for the thread; elsewhere ``fn`` is
    simply called. Context variables are copied to the thread.
    """
    if getcurrent().__class__ is not _Worker:
        return fn(*args, **kwargs)
    return await_(asyncio.to_thread(fn, *args, **kwargs))


def sync_to_async(
    func: Callable[P, T] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Any = None,
) -> Any:
    """Drop-in for ``asgiref.sync.sync_to_async`` that runs ``func`` in a bridge
    greenlet on the loop instead of hopping to a thread.

    Only for code that is loop-safe: its IO goes through ``await_()``
    (oneloop's database, cache and mail backends). ``thread_sensitive`` and
    ``executor`` are accepted for compatibility and ignored.
    """
    del thread_sensitive, executor
    if func is None:
        return sync_to_async

    @functools.wraps(func)
    async def bridged(*args: P.args, **kwargs: P.kwargs) -> T:
        __traceback_hide__ = True
        return await run_sync(func, *args, **kwargs)

    bridged._oneloop_bridged = True  # type: ignore[attr-defined]
    return bridged
