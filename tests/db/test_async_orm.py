"""Every stock a*() ORM method runs on the loop thread, with no thread hop."""

import asyncio
import threading

import pytest
from django.db.models import Max

from tests.testapp.models import Author, Book, Tag

pytestmark = pytest.mark.django_db(transaction=True)


async def exercise_every_a_method() -> list:
    """Calls each a*() method the ORM offers; returns what they gave back."""
    author = await Author.objects.acreate(name="Ann")
    out = [author.pk]
    books = await Book.objects.abulk_create(
        [Book(title=f"t{i}", n=i, author=author) for i in range(5)]
    )
    for book in books:
        book.title = book.title.upper()
    await Book.objects.abulk_update(books, ["title"])
    out.append((await Book.objects.aget(n=1)).title)
    out.append((await Book.objects.order_by("n").afirst()).n)
    out.append((await Book.objects.order_by("n").alast()).n)
    out.append(await Book.objects.acount())
    out.append(await Book.objects.filter(n=99).aexists())
    obj, created = await Book.objects.aget_or_create(n=10, defaults={"title": "x"})
    out.append(created)
    obj, created = await Book.objects.aupdate_or_create(n=10, defaults={"title": "y"})
    out.append((created, obj.title))
    out.append(await Book.objects.filter(n__gte=3).aupdate(title="many"))
    out.append(await Book.objects.aaggregate(Max("n")))
    in_bulk = await Book.objects.ain_bulk([b.pk for b in books])
    out.append(sorted(in_bulk) == sorted(b.pk for b in books))
    out.append([b.n async for b in Book.objects.order_by("n").aiterator(2)])
    out.append([b.n async for b in Book.objects.filter(n__lt=2).order_by("n")])
    tags = [await Tag.objects.acreate(name=name) for name in "abc"]
    book = books[0]
    await book.tags.aadd(tags[0], tags[1])
    await book.tags.aremove(tags[0])
    out.append([t.name async for t in book.tags.all()])
    await book.tags.aset([tags[2]])
    out.append([t.name async for t in book.tags.all()])
    await book.tags.aclear()
    out.append(await book.tags.acount())
    book.title = "saved"
    await book.asave()
    stale = await Book.objects.aget(pk=book.pk)
    await Book.objects.filter(pk=book.pk).aupdate(title="changed")
    await stale.arefresh_from_db()
    out.append(stale.title)
    await stale.adelete()
    out.append(await Book.objects.filter(n__gte=4).adelete())
    out.append(await author.books.acount())
    return out


async def test_every_a_method_on_the_loop_thread(query_threads, new_threads):
    loop = asyncio.get_running_loop()
    results = await exercise_every_a_method()
    assert results[1:] == [
        "T1",
        0,
        4,
        5,
        False,
        True,
        (False, "y"),
        3,
        {"n__max": 10},
        True,
        [0, 1, 2, 3, 4, 10],
        [0, 1],
        ["b"],
        ["c"],
        0,
        "changed",
        (2, {"testapp.Book": 2}),
        3,
    ]
    assert query_threads.threads, "no query was recorded"
    assert set(query_threads.threads) == {threading.get_ident()}
    assert not new_threads(), "a thread was started"
    assert loop._default_executor is None, "the loop's executor was used"


def test_same_methods_sync_without_loop():
    """Plain sync use of the same ENGINE: stock behaviour."""
    author = Author.objects.create(name="Bob")
    Book.objects.bulk_create(
        [Book(title=f"t{i}", n=i, author=author) for i in range(5)]
    )
    assert Book.objects.count() == 5
    assert Book.objects.order_by("n").first().n == 0
    assert Book.objects.filter(n__gte=3).update(title="many") == 2
    assert list(Book.objects.order_by("n").iterator(2).__iter__())[-1].n == 4
    assert Book.objects.aggregate(Max("n")) == {"n__max": 4}
