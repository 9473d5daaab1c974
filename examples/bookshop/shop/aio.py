"""The async helpers the views use, in one place.

Normally (the ``oneloop`` app installed) they are oneloop's: templates render
and forms validate in a bridge greenlet on the event loop, and
``sync_to_async`` runs sync code there too, with no thread.

``demo.py --load`` also serves this same project as stock Django would run it
(``BOOKSHOP_STOCK=1``), to compare the two side by side; then they are the
stock equivalents, which run the sync code in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.apps import apps
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse

__all__ = ["ONELOOP", "ais_valid", "arender", "sync_to_async"]

ONELOOP = apps.is_installed("oneloop")

if ONELOOP:
    from oneloop import sync_to_async
    from oneloop.forms import ais_valid
    from oneloop.shortcuts import arender
else:  # stock Django, for the comparison only
    from asgiref.sync import sync_to_async as _thread_sync_to_async
    from django.shortcuts import render

    def sync_to_async(fn: Callable[..., Any]) -> Callable[..., Any]:
        """asgiref's ``sync_to_async``: the call runs in a worker thread."""
        return _thread_sync_to_async(fn)

    async def arender(
        request: HttpRequest,
        template_name: str,
        context: Mapping[str, Any] | None = None,
    ) -> HttpResponse:
        """``render()`` in a worker thread."""
        return await _thread_sync_to_async(render)(request, template_name, context)

    async def ais_valid(form: BaseForm) -> bool:
        """``form.is_valid()`` in a worker thread."""
        return await _thread_sync_to_async(form.is_valid)()
