"""``@dual``: one sync-written helper, called sync and async, tested both ways
(the example of docs/library-authors.md)."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest
from django.db import connection

from oneloop.dual import dual
from tests.testapp.models import Author, Book
from tests.testapp_tpl import TEMPLATES
from tests.testapp_tpl.helpers import Library, send_reading_list

EXPECTED_BODY = "Hello Ann,\n- Alpha\n- Beta\n"


@pytest.fixture(autouse=True)
def tpl_templates(settings):
    settings.TEMPLATES = TEMPLATES


@pytest.fixture
def ann():
    ann = Author.objects.create(name="Ann")
    Author.objects.create(name="Bob")
    Book.objects.create(title="Beta", author=ann)
    Book.objects.create(title="Alpha", author=ann)
    return ann


def check_mail(mailoutbox, count):
    assert len(mailoutbox) == count
    for message in mailoutbox:
        assert message.subject == "Books by Ann"
        assert message.from_email == "library@example.com"
        assert message.body.strip() == EXPECTED_BODY.strip()


@pytest.mark.django_db
def test_sync_call(ann, mailoutbox):
    assert send_reading_list(ann.pk, "reader@example.com") == 2
    check_mail(mailoutbox, 1)
    assert mailoutbox[0].to == ["reader@example.com"]


@pytest.mark.django_db(transaction=True)
async def test_async_call_runs_on_the_loop_thread(ann, mailoutbox):
    await Author.objects.acount()  # pool open: no thread is started below
    threads = threading.active_count()
    results = await asyncio.gather(
        *(send_reading_list.asynchronous(ann.pk, f"r{i}@example.com") for i in range(5))
    )
    assert results == [2] * 5
    check_mail(mailoutbox, 5)
    assert sorted(m.to[0] for m in mailoutbox) == [
        f"r{i}@example.com" for i in range(5)
    ]
    if connection.vendor == "postgresql":
        # (oneloop's SQLite backend runs each connection's calls on its own
        # thread by design; PostgreSQL needs none.)
        assert threading.active_count() == threads


@pytest.mark.django_db(transaction=True)
async def test_errors_propagate_from_the_async_call(mailoutbox):
    with pytest.raises(Author.DoesNotExist):
        await send_reading_list.asynchronous(10**9, "x@example.com")
    assert mailoutbox == []


@pytest.mark.django_db
def test_methods_bind_like_functions(ann):
    library = Library("lib")
    assert library.author_names() == ["lib:Ann", "lib:Bob"]
    assert library.author_names("B") == ["lib:Bob"]
    assert Library.author_names(library, "A") == ["lib:Ann"]
    assert Library.count() == ("Library", 2)
    assert library.count() == ("Library", 2)


@pytest.mark.django_db(transaction=True)
async def test_methods_bind_like_functions_async(ann):
    library = Library("lib")
    assert await library.author_names.asynchronous("B") == ["lib:Bob"]
    assert await Library.author_names.asynchronous(library) == ["lib:Ann", "lib:Bob"]
    assert await Library.count.asynchronous() == ("Library", 2)
    assert await library.count.asynchronous() == ("Library", 2)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
async def test_async_calls_wait_concurrently():
    await Author.objects.acount()
    started = time.perf_counter()
    pids = await asyncio.gather(
        *(Library.server_wait.asynchronous(0.1) for _ in range(20))
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"20 x 0.1 s took {elapsed:.2f} s"
    assert len(set(pids)) > 1  # several connections at once


def test_wrapper_keeps_name_doc_and_signature():
    assert send_reading_list.__name__ == "send_reading_list"
    assert "Email" in send_reading_list.__doc__
    assert list(inspect.signature(send_reading_list).parameters) == ["author_id", "to"]
    assert "send_reading_list" in repr(send_reading_list)
    assert "bound dual" in repr(Library("x").author_names)


def test_async_def_is_refused_with_advice():
    async def already_async():
        return 1

    with pytest.raises(TypeError, match=r"needs a sync function.*plain 'def'"):
        dual(already_async)


def test_plain_functions_without_io():
    @dual
    def add(a, b=1):
        return a + b

    assert add(1) == 2
    assert asyncio.run(add.asynchronous(1, b=5)) == 6
