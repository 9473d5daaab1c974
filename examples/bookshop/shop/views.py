"""The shop's views: async ones where they wait on several things at once or
render a page, plain sync ones everywhere else. Under oneloop both kinds run
on the event loop; the sync ones need no change at all.
"""

from __future__ import annotations

import asyncio
import json
import os

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from oneloop.mail import asend_mail
from shop.aio import ONELOOP, ais_valid, arender, sync_to_async
from shop.consumers import announce
from shop.forms import BookSuggestionForm
from shop.models import Author, Book, Review, SentEmail

PAGE_SIZE = 10


def _search(q: str) -> QuerySet[Book]:
    books = Book.objects.select_related("author", "publisher")
    if q:
        books = books.filter(Q(title__icontains=q) | Q(author__name__icontains=q))
    return books


async def home(request: HttpRequest) -> HttpResponse:
    return redirect("book-list")


async def book_list(request: HttpRequest) -> HttpResponse:
    """Search and pagination, rendered with ``arender``.

    The template gets lazy querysets: the page's books, and the top authors
    inside a ``{% cache %}`` block, which only query when the fragment is not
    cached.
    """
    q = request.GET.get("q", "").strip()
    paginator = Paginator(_search(q), PAGE_SIZE)
    page = await sync_to_async(paginator.get_page)(request.GET.get("page"))
    top_authors = Author.objects.annotate(n=Count("books")).order_by("-n", "name")
    return await arender(
        request,
        "shop/book_list.html",
        {"page": page, "q": q, "top_authors": top_authors[:5], "oneloop": ONELOOP},
    )


def book_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain sync view: Django's ``render`` and sync ORM, unchanged."""
    book = get_object_or_404(Book.objects.select_related("author", "publisher"), pk=pk)
    return render(
        request,
        "shop/book_detail.html",
        {
            "book": book,
            "reviews": book.reviews.order_by("-id"),
            "suggested": "suggested" in request.GET,
        },
    )


@login_required
async def suggest_book(request: HttpRequest) -> HttpResponse:
    """The form: validated with ``ais_valid`` (async validator, uniqueness
    check), saved with the async ORM, and an email to the staff on success."""
    if request.method == "POST":
        form = BookSuggestionForm(request.POST)
        if await ais_valid(form):
            book = form.save(commit=False)
            book.suggested_by = await request.auser()
            await book.asave()
            await asend_mail(
                f"New suggestion: {book.title}",
                f"{book.suggested_by} suggested {book.title!r} (ISBN {book.isbn}).\n"
                f"{request.build_absolute_uri(reverse('book-detail', args=[book.pk]))}",
                None,
                [settings.SHOP_STAFF_EMAIL],
            )
            return redirect(reverse("book-detail", args=[book.pk]) + "?suggested=1")
    else:
        form = BookSuggestionForm()
    return await arender(request, "shop/suggest.html", {"form": form})


@login_required
def outbox(request: HttpRequest) -> HttpResponse:
    """What the shop's email backend has sent (newest first)."""
    return render(request, "shop/outbox.html", {"emails": SentEmail.objects.all()[:50]})


def api_books(request: HttpRequest) -> JsonResponse:
    """A sync JSON view (no REST framework): the first books matching ``q``.

    ``read_from`` names the database alias the router sent the read to,
    ``pid`` the worker process that answered.
    """
    q = request.GET.get("q", "").strip()
    books = _search(q)
    count = books.count()
    rows = [
        {"id": b.id, "title": b.title, "author": b.author.name, "isbn": b.isbn}
        for b in books[:20]
    ]
    return JsonResponse(
        {
            "q": q,
            "count": count,
            "books": rows,
            "read_from": books.db,
            "pid": os.getpid(),
        }
    )


def _add_review(pk: int, reviewer: str, rating: object, text: str) -> Review:
    """Add a review in a transaction (``transaction.atomic``), then send it
    to every open page of the book (the channel layer, from sync code)."""
    with transaction.atomic():
        # select_for_update() is a write: the router sends it to the primary.
        book = get_object_or_404(Book.objects.select_for_update(), pk=pk)
        review = Review.objects.create(
            book=book,
            reviewer=reviewer[:100],
            rating=max(1, min(5, int(rating))),
            text=text,
        )
    announce(review)
    return review


@require_POST
def add_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The review form of the book page (a plain sync view)."""
    reviewer = (
        request.user.username
        if request.user.is_authenticated
        else request.POST.get("reviewer", "").strip() or "anonymous"
    )
    _add_review(
        pk, reviewer, request.POST.get("rating", 5), request.POST.get("text", "")
    )
    return redirect("book-detail", pk=pk)


@csrf_exempt
@require_POST
def api_add_review(request: HttpRequest, pk: int) -> JsonResponse:
    """Add a review from JSON (sync view, ``transaction.atomic``)."""
    data = json.loads(request.body or b"{}")
    review = _add_review(
        pk,
        str(data.get("reviewer", "anonymous")),
        data.get("rating", 5),
        str(data.get("text", "")),
    )
    return JsonResponse({"id": review.id, "book": pk, "pid": os.getpid()})


async def api_stats(request: HttpRequest) -> JsonResponse:
    """An async view that fans out: four lookups at once with ``gather``.

    Outside a transaction each query gets its own connection under oneloop,
    so they really run in parallel.
    """
    books, authors, reviews, hits = await asyncio.gather(
        Book.objects.acount(),
        Author.objects.acount(),
        Review.objects.aaggregate(n=Count("id"), avg=Avg("rating")),
        cache.aget_or_set("stats-hits", 0),
    )
    await cache.aset("stats-hits", hits + 1)
    return JsonResponse(
        {
            "books": books,
            "authors": authors,
            "reviews": reviews["n"],
            "average_rating": reviews["avg"],
            "pid": os.getpid(),
        }
    )
