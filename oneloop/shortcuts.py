"""Async counterparts of :mod:`django.shortcuts` that render templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse

from oneloop.template import arender_to_string

__all__ = ["arender"]


async def arender(
    request: HttpRequest,
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    content_type: str | None = None,
    status: int | None = None,
    using: str | None = None,
    *,
    resolve_concurrently: bool = False,
) -> HttpResponse:
    """Render a template into an :class:`~django.http.HttpResponse` without
    blocking the event loop: :func:`django.shortcuts.render` for async views.

    See :func:`oneloop.template.arender_to_string` for how rendering runs and
    what ``resolve_concurrently`` does.
    """
    content = await arender_to_string(
        template_name,
        context,
        request,
        using=using,
        resolve_concurrently=resolve_concurrently,
    )
    return HttpResponse(content, content_type, status)
