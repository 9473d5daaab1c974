"""oneloop.atomic as ``with``, ``async with`` and decorator; savepoints,
on_commit, rollback on errors and on cancellation."""

import asyncio

import pytest
from django.db import connection, transaction

import oneloop
from tests.testapp.models import Book

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


async def test_async_with_commits_and_runs_on_commit_after():
    calls = []
    async with oneloop.atomic():
        await Book.objects.acreate(title="a", n=1)
        await oneloop.run_sync(transaction.on_commit, lambda: calls.append("done"))
        assert calls == []
    assert calls == ["done"]
    assert await Book.objects.filter(n=1).aexists()


async def test_async_with_rolls_back_on_exception_and_drops_on_commit():
    calls = []
    with pytest.raises(Boom):
        async with oneloop.atomic():
            await Book.objects.acreate(title="a", n=2)
            await oneloop.run_sync(transaction.on_commit, lambda: calls.append(1))
            raise Boom
    assert calls == []
    assert not await Book.objects.filter(n=2).aexists()


async def test_nested_savepoints():
    async with oneloop.atomic():
        await Book.objects.acreate(title="outer", n=3)
        with pytest.raises(Boom):
            async with oneloop.atomic():
                await Book.objects.acreate(title="inner", n=4)
                raise Boom
        async with oneloop.atomic():
            await Book.objects.acreate(title="kept", n=5)
    assert [b.n async for b in Book.objects.order_by("n")] == [3, 5]


async def test_decorates_async_and_sync_functions():
    @oneloop.atomic
    async def create_then_fail():
        await Book.objects.acreate(title="x", n=6)
        raise Boom

    @oneloop.atomic(savepoint=False)
    def create_sync():
        Book.objects.create(title="y", n=7)
        return connection.in_atomic_block

    with pytest.raises(Boom):
        await create_then_fail()
    assert await oneloop.run_sync(create_sync) is True
    assert [b.n async for b in Book.objects.all()] == [7]


async def test_durable_block_inside_another_is_refused():
    with pytest.raises(RuntimeError, match="durable"):
        async with oneloop.atomic():
            async with oneloop.atomic(durable=True):
                pass


async def test_cancellation_inside_async_with_rolls_back():
    entered = asyncio.Event()

    async def work():
        async with oneloop.atomic():
            await Book.objects.acreate(title="never", n=8)
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await Book.objects.filter(n=8).aexists()


def test_sync_with_in_plain_sync_code():
    with pytest.raises(Boom), oneloop.atomic():
        Book.objects.create(title="z", n=9)
        raise Boom
    with oneloop.atomic():
        Book.objects.create(title="z", n=10)
    assert list(Book.objects.values_list("n", flat=True)) == [10]
