"""pytest-django on a oneloop project, unchanged: ``django_db`` (a Django
``TestCase`` transaction), ``transaction=True``, its client fixtures and
pytest-asyncio ``async def`` tests running on a loop in the main thread."""

import asyncio
import threading

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.signals import request_finished, request_started

import oneloop
from oneloop.mail import asend_mail
from oneloop.template import arender_to_string
from tests.testapp.models import Author, Book


@pytest.fixture
def ann(db):
    return Author.objects.create(name="Ann")


@pytest.mark.django_db
async def test_async_test_sees_the_fixtures_rows(ann):
    assert (await Author.objects.aget(name="Ann")).pk == ann.pk


@pytest.mark.django_db
@pytest.mark.parametrize("run", [1, 2])
async def test_rows_do_not_outlive_the_test(run):
    assert await Author.objects.acount() == 0
    await Author.objects.acreate(name="Bob")
    assert await Author.objects.acount() == 1


@pytest.mark.django_db
async def test_atomic_block_rolled_back(ann):
    with pytest.raises(KeyError):
        async with oneloop.atomic():
            await Book.objects.acreate(title="Emma", author=ann)
            raise KeyError("undo")
    assert await Book.objects.acount() == 0
    async with oneloop.atomic():
        await Book.objects.acreate(title="Persuasion", author=ann)
    assert await ann.books.acount() == 1


@pytest.mark.django_db
async def test_gather_and_num_queries(ann, django_assert_num_queries):
    with django_assert_num_queries(3):
        results = await asyncio.gather(
            Author.objects.acount(),
            Author.objects.filter(name="Ann").aexists(),
            Book.objects.acount(),
        )
    assert results == [1, True, 0]


@pytest.mark.django_db
async def test_async_client_fixture(ann, async_client):
    response = await async_client.get("/authors/")
    assert response.json() == {"names": ["Ann"], "in_bridge": True}
    response = await async_client.post(
        "/create/", {"name": "Bob"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert await Author.objects.acount() == 2


@pytest.mark.django_db
async def test_async_client_signals_run_on_the_loop_in_bridges(async_client):
    ran = []

    def receiver(signal, **kwargs):
        ran.append((signal, threading.get_ident(), oneloop.in_bridge()))

    request_started.connect(receiver)
    request_finished.connect(receiver)
    try:
        assert (await async_client.get("/authors/")).status_code == 200
    finally:
        request_started.disconnect(receiver)
        request_finished.disconnect(receiver)
    loop_thread = threading.get_ident()
    assert ran == [
        (request_started, loop_thread, True),
        (request_finished, loop_thread, True),
    ]


@pytest.mark.django_db
def test_sync_client_fixture(ann, client, django_assert_num_queries):
    with django_assert_num_queries(3):
        response = client.get("/fan-out/")
    assert response.json() == {"authors": 1, "ann": 1, "books": 0}


@pytest.mark.django_db
async def test_settings_fixture_reaches_the_view(async_client, settings):
    settings.TESTING_GREETING = "hi"
    response = await async_client.get("/setting/")
    assert response.content == b"hi"


@pytest.mark.django_db
async def test_arender_to_string_queries_the_tests_rows(ann):
    await Author.objects.acreate(name="Bob")
    html = await arender_to_string(
        "testing/authors.html", {"authors": Author.objects.order_by("name")}
    )
    assert html.strip() == "Ann;Bob;"


async def test_asend_mail_into_the_outbox(mailoutbox):
    sent = await asend_mail("Hi", "Body", "from@example.com", ["to@example.com"])
    assert sent == 1
    assert mail.outbox is mailoutbox
    assert [m.subject for m in mailoutbox] == ["Hi"]


async def test_cache_aget_with_the_locmem_cache():
    await cache.aset("greeting", "hello")
    assert await cache.aget("greeting") == "hello"
    await cache.adelete("greeting")


@pytest.mark.django_db(transaction=True)
async def test_transaction_true_commits_through_child_tasks():
    await asyncio.gather(*(Author.objects.acreate(name=n) for n in ("A", "B")))
    names = await oneloop.run_sync(
        lambda: sorted(Author.objects.values_list("name", flat=True))
    )
    assert names == ["A", "B"]


@pytest.mark.django_db(transaction=True)
async def test_transaction_true_is_flushed_between_tests():
    assert await Author.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
def test_live_server_fixture_serves_with_oneloop(live_server):
    import httpx

    Author.objects.create(name="Ann")
    response = httpx.get(f"{live_server.url}/authors/", timeout=10)
    assert response.json() == {"names": ["Ann"], "in_bridge": True}
