"""ModelForm uniqueness checks, model choice lookups and async validators that
query: ``ais_valid`` gives what ``is_valid`` gives, table-driven."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection

import oneloop
from oneloop.db import aclose_pools
from oneloop.forms import ais_valid
from tests.testapp.models import Author, Book, Tag
from tests.testapp_tpl import run_on_new_loop
from tests.testapp_tpl.forms import AuthorForm, BookForm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def close_private_loop_pools():
    """Sync is_valid() awaits the async validator on this thread's private
    loop, whose ORM calls open a pool there: close it with the test."""
    yield
    oneloop.await_(aclose_pools())


@pytest.fixture
def library():
    ann = Author.objects.create(name="Ann")
    bob = Author.objects.create(name="Bob")
    red = Tag.objects.create(name="red")
    blue = Tag.objects.create(name="blue")
    return {"ann": ann.pk, "bob": bob.pk, "red": red.pk, "blue": blue.pk}


AUTHOR_CASES = [
    {"name": "Cid"},
    {"name": "Ann"},  # unique name taken
    {"name": "Bob"},
    {"name": "ann"},  # unique is case-sensitive: valid
    {"name": ""},
    {"name": "x" * 101},
    {"name": "Dee", "pen_name": "Ann"},  # async validator finds an author
    {"name": "Dee", "pen_name": "bob"},
    {"name": "Dee", "pen_name": "Zed"},
    {"name": "Ann", "pen_name": "Bob"},
    {},
]

BOOK_CASES = [
    {"title": "T", "n": "1", "author": "{ann}", "tags": ["{red}"]},
    {"title": "T", "n": "1", "author": "{bob}", "tags": ["{red}", "{blue}"]},
    {"title": "T", "n": "1", "author": "999999", "tags": ["{red}"]},
    {"title": "T", "n": "1", "author": "{ann}", "tags": ["999999"]},
    {"title": "T", "n": "x", "author": "nope", "tags": []},
    {"title": "", "n": "1", "author": "", "tags": ["{blue}"]},
    {"title": "T", "n": "2", "tags": ["{red}", "nope"]},
    {"title": "U" * 201, "n": "3", "author": "{bob}", "tags": []},
    {},
]


def fill(data, ids):
    def one(value):
        return value.format(**ids) if isinstance(value, str) else value

    return {
        key: [one(v) for v in value] if isinstance(value, list) else one(value)
        for key, value in data.items()
    }


def outcome(form, valid):
    return valid, form.errors.get_json_data()


async def validate_all(form_class, cases):
    forms = [form_class(data) for data in cases]
    valid = await asyncio.gather(*(ais_valid(form) for form in forms))
    return [outcome(form, v) for form, v in zip(forms, valid, strict=True)]


@pytest.mark.parametrize(
    ("form_class", "cases"),
    [(AuthorForm, AUTHOR_CASES), (BookForm, BOOK_CASES)],
    ids=["unique-and-async-validator", "model-choices"],
)
def test_ais_valid_gives_the_errors_is_valid_gives(library, form_class, cases):
    cases = [fill(data, library) for data in cases]
    expected = []
    for data in cases:
        form = form_class(data)
        expected.append(outcome(form, form.is_valid()))
    assert [valid for valid, _ in expected].count(True) >= 2
    assert [valid for valid, _ in expected].count(False) >= 5
    # Every form validated concurrently, each in its own task.
    assert run_on_new_loop(validate_all(form_class, cases)) == expected


def test_the_unique_error_is_djangos(library):
    async def check():
        form = AuthorForm({"name": "Ann"})
        assert not await form.ais_valid()
        return form

    form = run_on_new_loop(check())
    assert form.errors.as_data()["name"][0].code == "unique"
    assert form.errors["name"] == ["Author with this Name already exists."]


def test_a_valid_model_form_saves_in_a_bridge(library):
    async def check():
        form = BookForm(
            fill(
                {"title": "New", "n": "7", "author": "{ann}", "tags": ["{red}"]},
                library,
            )
        )
        assert await ais_valid(form)
        threads = threading.get_ident(), threading.active_count()
        book = await oneloop.run_sync(form.save)
        if connection.vendor == "postgresql":  # SQLite: a thread per connection
            assert (threading.get_ident(), threading.active_count()) == threads
        return book.pk

    pk = run_on_new_loop(check())
    book = Book.objects.get(pk=pk)
    assert (book.title, book.author.name, [t.name for t in book.tags.all()]) == (
        "New",
        "Ann",
        ["red"],
    )
