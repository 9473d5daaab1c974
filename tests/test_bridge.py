"""The bridge: results, errors, context, cancellation, misuse."""

import asyncio
import contextvars
import gc
import threading
import time
import weakref

import pytest
from django.test import override_settings
from greenlet import getcurrent, greenlet

from oneloop import MissingBridge, await_, gather, offload, run_sync
from oneloop.bridge import (
    TaskScope,
    _parked,
    _Worker,
    current_scope,
    in_bridge,
    sync_to_async,
)

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def test_result_and_await():
    def double(x):
        return await_(asyncio.sleep(0.001, result=x * 2))

    assert await run_sync(double, 21) == 42


async def test_exception_keeps_traceback():
    def fails():
        await_(asyncio.sleep(0))
        raise KeyError("boom")

    with pytest.raises(KeyError) as info:
        await run_sync(fails)
    assert any(entry.name == "fails" for entry in info.traceback)


async def test_async_exception_raised_at_await_point():
    async def broken():
        raise ValueError("from the loop")

    def calls():
        try:
            await_(broken())
        except ValueError as exc:
            return f"caught {exc}"

    assert await run_sync(calls) == "caught from the loop"


async def test_context_is_the_tasks_context():
    def sets():
        assert var.get() == "outer"
        var.set("inner")

    var.set("outer")
    await run_sync(sets)
    assert var.get() == "inner"


async def test_one_scope_and_greenlet_reused_per_task():
    scopes = [await run_sync(current_scope) for _ in range(3)]
    assert scopes[0] is scopes[1] is scopes[2]
    other = await asyncio.create_task(run_sync(current_scope))
    assert other is not scopes[0]
    assert other.parent is scopes[0]


async def test_later_tasks_and_nested_calls_reuse_parked_greenlets():
    """A request's task and the ORM ``a*()`` calls of an async view (a
    ``run_sync`` nested in the request's bridge) take parked greenlets:
    ten requests one after the other make at most two greenlets."""
    seen: list[greenlet] = []  # kept alive, so no id is recycled

    def nested() -> None:
        seen.append(getcurrent())

    async def view() -> None:
        for _ in range(3):
            await run_sync(nested)

    def request() -> None:
        seen.append(getcurrent())
        await_(view())

    for _ in range(10):
        await asyncio.create_task(run_sync(request))
    assert len(seen) == 40
    assert len({id(worker) for worker in seen}) <= 2
    # Parked, they hold nothing of the tasks they served.
    assert {(w.scope, w.gr_context) for w in _parked.workers} == {(None, None)}


async def test_interleaved_tasks_on_reused_greenlets_see_only_their_own():
    """Concurrent tasks whose bridges run on greenlets other tasks used
    before see only their own context variables and scope, across awaits
    and nested calls; a new task's bridge starts from its own context."""

    def check(name: str, scope: TaskScope) -> None:
        assert var.get() == name
        assert current_scope() is scope

    def serve(name: str) -> greenlet:
        assert var.get() == "unset"  # nothing left by an earlier task
        var.set(name)
        scope = current_scope()
        for _ in range(5):
            await_(asyncio.sleep(0))
            check(name, scope)
            await_(run_sync(check, name, scope))
        return getcurrent()

    used: list[greenlet] = []
    for wave in range(3):
        names = [f"task {wave}-{i}" for i in range(20)]
        used += await asyncio.gather(
            *(asyncio.create_task(run_sync(serve, name)) for name in names)
        )
    assert len({id(worker) for worker in used}) < len(used)  # reused


async def test_a_parked_greenlet_keeps_no_result_alive():
    """The outcome a bridge handed back is not kept by its greenlet once
    parked: a request's response is freed when the request is done."""

    class Response:
        pass

    async def request() -> weakref.ref:
        return weakref.ref(await run_sync(Response))

    ref = await asyncio.create_task(request())
    gc.collect()
    assert ref() is None


async def test_nested_run_sync_through_async_code():
    async def inner():
        return await run_sync(lambda: "nested")

    assert await run_sync(lambda: await_(inner())) == "nested"


async def test_runs_on_loop_thread_without_threads():
    loop_thread = threading.get_ident()
    before = threading.active_count()
    seen = await run_sync(threading.get_ident)
    assert seen == loop_thread
    assert threading.active_count() == before


async def test_concurrency_on_one_thread():
    def waits():
        return await_(asyncio.sleep(0.2, result=threading.get_ident()))

    start = time.perf_counter()
    idents = await asyncio.gather(*(run_sync(waits) for _ in range(20)))
    assert time.perf_counter() - start < 1.0
    assert set(idents) == {threading.get_ident()}


async def test_gather_from_sync_code():
    def fan_out():
        return gather(
            lambda: await_(asyncio.sleep(0.2, result="a")),
            lambda: await_(asyncio.sleep(0.2, result="b")),
            asyncio.sleep(0.2, result="c"),
        )

    start = time.perf_counter()
    assert await run_sync(fan_out) == ["a", "b", "c"]
    assert time.perf_counter() - start < 0.5


async def test_cancellation_arrives_at_await_and_cleanup_completes():
    log = []

    def slow():
        try:
            await_(asyncio.sleep(10))
        except asyncio.CancelledError:
            log.append("cancelled")
            await_(asyncio.sleep(0.05))  # clean-up that needs IO
            log.append("cleaned up")
            raise

    task = asyncio.create_task(run_sync(slow))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()  # a second cancellation must not cut the clean-up short
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled", "cleaned up"]


def _cut_short(awaitable) -> bool:
    """From a bridge: whether ``await_(awaitable)`` ended in a cancellation."""
    try:
        await_(awaitable)
    except asyncio.CancelledError:
        return True
    return False


@override_settings(ONELOOP={"CLEANUP_TIMEOUT": 0.2})
async def test_clean_up_past_its_deadline_ends_on_a_repeated_cancellation():
    waiting, cleaning = asyncio.Event(), asyncio.Event()
    cut = []

    def hung_clean_up():
        waiting.set()
        if _cut_short(asyncio.Event().wait()):
            cleaning.set()
            cut.append(_cut_short(asyncio.Event().wait()))  # a dead socket
            cut.append(_cut_short(asyncio.sleep(0)))  # abandoned: no waiting

    task = asyncio.create_task(run_sync(hung_clean_up))
    await waiting.wait()
    task.cancel()
    await cleaning.wait()
    done, _ = await asyncio.wait((task,), timeout=0.4)
    assert not done  # shielded, and nothing asked to stop it again
    task.cancel()  # past the deadline: honoured
    done, _ = await asyncio.wait((task,), timeout=0.2)
    assert done and task.cancelled()
    assert cut == [True, True]


@override_settings(ONELOOP={"CLEANUP_TIMEOUT": 0.2})
async def test_shielded_block_holds_a_cancellation_at_most_until_the_deadline():
    from oneloop.bridge import shielded

    committing = asyncio.Event()
    cut = []

    def hung_commit():
        with shielded():
            committing.set()
            cut.append(_cut_short(asyncio.Event().wait()))  # COMMIT, no answer

    task = asyncio.create_task(run_sync(hung_commit))
    await committing.wait()
    started = time.monotonic()
    task.cancel()
    done, _ = await asyncio.wait((task,), timeout=5)
    assert done and task.cancelled()
    assert time.monotonic() - started >= 0.2
    assert cut == [True]


async def test_missing_bridge_says_what_to_do():
    coro = asyncio.sleep(0)
    with pytest.raises(MissingBridge, match="run_sync"):
        await_(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


def test_await_without_loop_runs_privately():
    assert not in_bridge()
    assert await_(asyncio.sleep(0, result="done")) == "done"


async def test_offload_runs_blocking_code_in_a_thread_while_loop_runs():
    ticks = []

    async def ticker():
        for _ in range(5):
            ticks.append(1)
            await asyncio.sleep(0.02)

    def blocking():
        return offload(lambda: (time.sleep(0.15), threading.get_ident())[1])

    tick_task = asyncio.create_task(ticker())
    ident = await run_sync(blocking)
    await tick_task
    assert ident != threading.get_ident()
    assert len(ticks) == 5


async def test_sync_to_async_is_hop_free():
    @sync_to_async
    def where():
        return threading.get_ident()

    assert await where() == threading.get_ident()


async def test_shielded_block_holds_a_cancellation_until_it_ends():
    from oneloop.bridge import shielded

    log = []

    def commit_like():
        with shielded():
            await_(asyncio.sleep(0.1))  # the cancellation lands here
            log.append("block finished")
            await_(asyncio.sleep(0))  # still inside: still held
            log.append("still inside")
        try:
            await_(asyncio.sleep(10))  # delivered at the first await after
        except asyncio.CancelledError:
            log.append("cancelled after the block")
            raise

    task = asyncio.create_task(run_sync(commit_like))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["block finished", "still inside", "cancelled after the block"]


async def test_cancellation_held_to_the_end_of_the_bridge_is_raised():
    from oneloop.bridge import shielded

    def only_shielded():
        with shielded():
            await_(asyncio.sleep(0.1))
        return "done"

    task = asyncio.create_task(run_sync(only_shielded))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_bridge_collected_while_suspended_ends_and_is_freed():
    """A bridge greenlet whose ``run_sync`` is gone while it waits at an
    ``await_()`` is collected: it unwinds (its ``finally`` runs) and ends,
    without handing an outcome to the greenlet the collection happened in."""
    scope = TaskScope(None, None)
    suspended = _Worker(scope)
    unwound = []

    def wait_forever() -> None:
        try:
            # What await_() does: hand the loop something to wait for.
            getcurrent().parent.switch("waiting")
        finally:
            unwound.append(True)

    assert suspended.switch((wait_forever, (), {})) == "waiting"
    ref = weakref.ref(suspended)

    def collect() -> str:
        nonlocal suspended
        del suspended
        gc.collect()
        return "collected"

    outcome = _Worker(scope).switch((collect, (), {}))
    gc.collect()
    assert (outcome.value, outcome.exception) == ("collected", None)
    assert unwound == [True]
    assert ref() is None


def test_a_bridge_resumes_where_the_loop_runs_after_an_await():
    """The loop may run in another greenlet when a task resumes (a runner
    that calls ``run_until_complete()`` from a new greenlet each time, as
    the compat harness's test workers do): the bridge's result comes back to
    the task, not to whatever the first greenlet's parent is."""
    loop = asyncio.new_event_loop()
    gate = loop.create_future()
    waiting = asyncio.Event()

    def waits() -> str:
        waiting.set()
        return f"done after {await_(gate)}"

    async def start() -> asyncio.Task:
        task = loop.create_task(run_sync(waits))
        await waiting.wait()  # the bridge waits on the gate
        return task

    async def finish(task: asyncio.Task) -> str:
        gate.set_result("the gate")
        return await task

    try:
        task = greenlet(loop.run_until_complete).switch(start())
        # The greenlet that ran the loop has ended; another runs it now.
        result = greenlet(loop.run_until_complete).switch(finish(task))
    finally:
        loop.close()
    assert result == "done after the gate"
