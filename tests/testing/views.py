"""Views of the sample project the testing suite drives. Plain Django: sync
views (run in bridge greenlets by oneloop) and async views."""

import functools
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

import oneloop
from tests.testapp.models import Author, Book


def authors(request: HttpRequest) -> JsonResponse:
    """Sync view: the authors' names, and whether it ran in a bridge."""
    names = list(Author.objects.order_by("name").values_list("name", flat=True))
    return JsonResponse({"names": names, "in_bridge": oneloop.in_bridge()})


async def authors_async(request: HttpRequest) -> JsonResponse:
    """Async view: the authors' names."""
    names = [a.name async for a in Author.objects.order_by("name")]
    return JsonResponse({"names": names})


def _count(model: type, **filters: str) -> int:
    return model.objects.filter(**filters).count()


def fan_out(request: HttpRequest) -> JsonResponse:
    """Sync view running three queries at once with ``oneloop.gather``."""
    authors, ann, books = oneloop.gather(
        functools.partial(_count, Author),
        functools.partial(_count, Author, name="Ann"),
        functools.partial(_count, Book),
    )
    return JsonResponse({"authors": authors, "ann": ann, "books": books})


@csrf_exempt
def create_author(request: HttpRequest) -> JsonResponse:
    """Sync view: create the author named in the JSON body."""
    author = Author.objects.create(name=json.loads(request.body)["name"])
    return JsonResponse({"pk": author.pk}, status=201)


def setting(request: HttpRequest) -> HttpResponse:
    """The value of ``settings.TESTING_GREETING`` (override_settings)."""
    return HttpResponse(getattr(settings, "TESTING_GREETING", "unset"))


class _RenderFails(HttpResponse):
    async def render(self) -> HttpResponse:
        raise RuntimeError("render failed")


async def render_fails(request: HttpRequest) -> HttpResponse:
    """Async view whose response renders asynchronously, and fails to."""
    return _RenderFails("not rendered")


def where(request: HttpRequest) -> JsonResponse:
    """Whether the view ran in a bridge greenlet; touches no database."""
    return JsonResponse({"in_bridge": oneloop.in_bridge()})
