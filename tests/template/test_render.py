"""Rendering in a bridge, awaitables in templates, for Django templates and
Jinja2. No database here: see test_database.py."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest
from django.http import HttpRequest
from django.template import engines
from django.template.loader import render_to_string

import oneloop.template
from oneloop.shortcuts import arender
from oneloop.template import arender_to_string
from tests.testapp_tpl.templatetags import tpl_tags


class Child:
    def __init__(self, name: str) -> None:
        self.name = name

    async def aname(self) -> str:
        await asyncio.sleep(0)
        return self.name


class Thing:
    """An object with async methods, as a model with async helpers has."""

    def __init__(self) -> None:
        self.child = Child("kid")
        self.summaries = 0

    async def asummary(self) -> str:
        await asyncio.sleep(0.01)
        self.summaries += 1
        return "summary"


async def slow(value, delay=0.01):
    await asyncio.sleep(delay)
    return value


EXPECTED = "hello|a,b,|summary|SUMMARY|kid!|again=hello"


@pytest.mark.parametrize("engine", ["django", "jinja2"])
async def test_awaitables_in_context_and_attributes_are_awaited(engine):
    thing = Thing()
    rendered = await arender_to_string(
        "tpl/values.html",
        {"value": slow("hello"), "items": slow(["a", "b"]), "obj": thing},
        using=engine,
    )
    expected = EXPECTED if engine == "django" else EXPECTED.replace("kid!", "kid")
    assert rendered.strip() == expected
    # The coroutine in "value" was used twice and awaited once; the async
    # method was called for each use.
    assert thing.summaries == 2


async def test_renders_on_the_loop_thread_without_threads():
    tpl_tags.SEEN_THREADS.clear()
    await arender_to_string("tpl/values.html", {"value": 1, "items": [], "obj": None})
    threads = threading.active_count()
    rendered = await arender_to_string(
        "tpl/values.html", {"value": slow(2), "items": [], "obj": Thing()}
    )
    assert rendered.startswith("2|")
    assert tpl_tags.SEEN_THREADS == [threading.get_ident()] * 2
    assert threading.active_count() == threads


async def test_a_future_in_the_context_is_awaited():
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, future.set_result, "later")
    rendered = await arender_to_string(
        "tpl/plain.html", {"greeting": future, "name": future}
    )
    assert rendered.strip() == "later, later"


async def test_unused_coroutines_are_closed_not_leaked():
    unused = slow("never")
    rendered = await arender_to_string(
        "tpl/plain.html", {"greeting": "hi", "unused": unused}
    )
    assert rendered.strip() == "hi, nobody"
    assert unused.cr_frame is None  # closed: no "never awaited" warning
    gc.collect()


async def test_renders_concurrently_with_other_tasks():
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            arender_to_string(
                "tpl/plain.html", {"greeting": slow(i, 0.2), "name": slow("x", 0.2)}
            )
            for i in range(20)
        )
    )
    elapsed = time.perf_counter() - started
    assert [r.strip() for r in results] == [f"{i}, x" for i in range(20)]
    # 20 renders each waiting 0.4 s in sequence: concurrent, not 8 s.
    assert elapsed < 1.5, elapsed


async def test_resolve_concurrently_awaits_context_values_together():
    started = time.perf_counter()
    rendered = await arender_to_string(
        "tpl/plain.html",
        {"greeting": slow("hi", 0.3), "name": slow("ann", 0.3)},
        resolve_concurrently=True,
    )
    elapsed = time.perf_counter() - started
    assert rendered.strip() == "hi, ann"
    assert elapsed < 0.55, elapsed  # together (0.3 s), not one after the other


async def test_resolve_concurrently_cancels_the_rest_on_failure():
    finished = []

    async def fails():
        await asyncio.sleep(0.01)
        raise LookupError("no such report")

    async def long():
        await asyncio.sleep(5)
        finished.append(True)

    pending = long()
    with pytest.raises(LookupError, match="no such report"):
        await arender_to_string(
            "tpl/plain.html",
            {"greeting": fails(), "name": pending},
            resolve_concurrently=True,
        )
    await asyncio.sleep(0)
    assert finished == []
    assert pending.cr_frame is None  # cancelled and finished, not left running


async def test_an_error_while_awaiting_propagates_from_the_template():
    async def broken():
        await asyncio.sleep(0)
        raise ValueError("report failed")

    with pytest.raises(ValueError, match="report failed"):
        await arender_to_string("tpl/plain.html", {"greeting": broken()})


async def test_template_name_list_and_jinja2_by_alias():
    rendered = await arender_to_string(
        ["tpl/missing.html", "tpl/plain.html"], {"greeting": "hey"}
    )
    assert rendered.strip() == "hey, nobody"


async def test_arender_builds_the_response():
    request = HttpRequest()
    response = await arender(
        request,
        "tpl/plain.html",
        {"greeting": slow("ok"), "name": "bob"},
        content_type="text/plain; charset=utf-8",
        status=201,
    )
    assert response.status_code == 201
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().strip() == "ok, bob"


async def test_context_must_be_a_dict():
    with pytest.raises(TypeError, match="context must be a dict"):
        await arender_to_string("tpl/plain.html", ["not", "a", "dict"])


def test_sync_rendering_outside_a_loop_is_unchanged():
    # Stock behaviour outside a bridge: no awaiting, the value renders as is.
    assert render_to_string("tpl/plain.html", {"greeting": "hi"}).strip() == (
        "hi, nobody"
    )
    template = engines["django"].from_string("{{ a.b.c }}|{{ missing.x }}")
    assert template.render({"a": {"b": {"c": 3}}}) == "3|"


async def test_lookup_failures_behave_as_in_django():
    template = "{{ a.b.c }}|{{ missing.x }}|{{ a.nope }}|{{ a.b.0 }}"
    context = {"a": {"b": {"c": 3, "0": "zero"}}}
    expected = engines["django"].from_string(template).render(context)
    source = engines["django"].from_string(template)
    rendered = await oneloop.run_sync(source.render, context)
    assert rendered == expected == "3|||zero"


async def test_uninstall_restores_django_resolution():
    oneloop.uninstall()
    try:
        value = asyncio.get_running_loop().create_future()
        value.set_result("x")
        source = engines["django"].from_string("{{ value.done }}")
        # Django's own resolution calls Future.done() instead of awaiting.
        assert await oneloop.run_sync(source.render, {"value": value}) == "True"
    finally:
        oneloop.install()
