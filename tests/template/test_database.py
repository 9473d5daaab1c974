"""Templates that query the database render async-native: on the loop
thread, no executor thread, queries of many renders in parallel."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from oneloop.template import arender_to_string
from tests.testapp.models import Author, Book
from tests.testapp_tpl.templatetags import tpl_tags

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def library(django_db_blocker):
    ann = Author.objects.create(name="Ann")
    bob = Author.objects.create(name="Bob")
    for n, (title, author) in enumerate(
        [("Alpha", ann), ("Beta", ann), ("Gamma", bob)]
    ):
        Book.objects.create(title=title, n=n, author=author)
    return ann, bob


def context():
    return {
        "books": Book.objects.order_by("n"),  # lazy: queried while rendering
        "authors": Author.objects.order_by("name"),
    }


EXPECTED = "[Alpha][Beta][Gamma]\ncount=3\nAnn:<Alpha><Beta>(2);Bob:<Gamma>(1);"


async def test_lazy_querysets_related_managers_include_and_tags(library):
    tpl_tags.SEEN_THREADS.clear()
    rendered = await arender_to_string("tpl/books.html", context())
    assert rendered.strip() == EXPECTED
    # Three tag calls, all on the loop thread.
    assert tpl_tags.SEEN_THREADS == [threading.get_ident()] * 3


async def test_no_executor_thread_is_used(library):
    await arender_to_string("tpl/books.html", context())  # pool warmed up
    threads = threading.active_count()
    tpl_tags.SEEN_THREADS.clear()
    rendered = await arender_to_string("tpl/books.html", context())
    assert rendered.strip() == EXPECTED
    assert set(tpl_tags.SEEN_THREADS) == {threading.get_ident()}
    assert threading.active_count() == threads


async def test_jinja2_queries_async_native(library):
    rendered = await arender_to_string("tpl/books.html", context(), using="jinja2")
    assert rendered.strip() == "[Alpha][Beta][Gamma]\nAnn:<Alpha><Beta>;Bob:<Gamma>;"


async def test_async_orm_calls_in_the_context_resolve_concurrently(library):
    await Book.objects.acount()  # opens this loop's pool before the tasks race
    rendered = await arender_to_string(
        "tpl/plain.html",
        {
            "greeting": Book.objects.acount(),
            "name": Author.objects.order_by("name").afirst(),
        },
        resolve_concurrently=True,
    )
    assert rendered.strip() == "3, Ann"


@pytest.mark.postgresql
async def test_twenty_renders_wait_on_postgresql_concurrently(library):
    await arender_to_string("tpl/wait.html", {"books": [], "seconds": 0})
    threads = threading.active_count()
    tpl_tags.SEEN_THREADS.clear()
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            arender_to_string(
                "tpl/wait.html",
                {"books": Book.objects.order_by("n"), "seconds": 0.1},
            )
            for _ in range(20)
        )
    )
    elapsed = time.perf_counter() - started
    pids = set()
    for result in results:
        titles, _, pid = result.strip().partition("|")
        assert titles == "[Alpha][Beta][Gamma]"
        pids.add(re.fullmatch(r"pid=(\d+)", pid).group(1))
    # 20 x 0.1 s one after the other would be 2 s.
    assert elapsed < 1.0, f"20 renders took {elapsed:.2f} s"
    assert len(pids) > 1  # the renders used several connections at once
    assert set(tpl_tags.SEEN_THREADS) == {threading.get_ident()}
    assert threading.active_count() == threads
