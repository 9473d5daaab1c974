"""Async rendering for Django's template engine and for Jinja2.

``await arender_to_string(name, context, request)`` renders in a bridge
greenlet on the running loop. Everything the template does that waits on IO —
a lazy queryset in ``{% for %}``, a related manager, an ``{% include %}``, a
custom tag that queries — goes through oneloop's async-native backends, so
many renders run concurrently on one thread without a thread pool.

Awaitables in templates:

* A coroutine or other awaitable met while resolving a variable
  (``{{ book.asummary }}`` calls an ``async def`` method; ``{{ stats }}``
  where the context holds a coroutine) is awaited in place. For Django
  templates this needs :func:`install` (done by ``oneloop.install()``); for
  Jinja2 use :class:`Jinja2Environment` as the backend's ``environment``.
* ``resolve_concurrently=True`` awaits every awaitable at the top level of
  the context concurrently *before* rendering starts: use it when a page
  needs several independent slow things.

Outside a bridge nothing changes: stock rendering, stock speed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.template import loader
from django.template.base import Variable, VariableDoesNotExist

from oneloop.bridge import await_, in_bridge, run_sync

if TYPE_CHECKING:
    from django.template.context import BaseContext

__all__ = [
    "Jinja2Environment",  # noqa: F822 (built on first use: jinja2 is optional)
    "arender_to_string",
    "settle",
]


# -- telling awaitables apart, fast ------------------------------------------

# Variable resolution is hot, so whether a type is awaitable is cached per
# type. The cache is bounded: past the limit, types are checked each time.
_AWAITABLE_TYPES: dict[type, bool] = {}
_AWAITABLE_TYPES_LIMIT = 4096


def _is_awaitable(value: object) -> bool:
    kind = type(value)
    verdict = _AWAITABLE_TYPES.get(kind)
    if verdict is None:
        verdict = hasattr(kind, "__await__")
        if len(_AWAITABLE_TYPES) < _AWAITABLE_TYPES_LIMIT:
            _AWAITABLE_TYPES[kind] = verdict
    return verdict


def settle(value: Any) -> Any:
    """Return ``value``, or what it resolves to if it is awaitable.

    For sync code in a bridge (template tags, filters, form code) that may be
    handed a coroutine: ``settle(x)`` waits for it without blocking the loop.
    With no loop running it runs the awaitable on a private loop.
    """
    if _is_awaitable(value):
        return await_(value)
    return value


class _Once:
    """An awaitable that awaits ``awaitable`` the first time and then keeps
    its outcome, so a coroutine in the context can be used several times in
    one template (``{% if stats %}{{ stats.total }}{% endif %}``)."""

    __slots__ = ("_awaitable", "_error", "_state", "_value")

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self._awaitable: Awaitable[Any] | None = awaitable
        self._state = "pending"
        self._value: Any = None
        self._error: BaseException | None = None

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == "pending":
            awaitable, self._awaitable = self._awaitable, None
            self._state = "running"
            try:
                self._value = yield from awaitable.__await__()  # type: ignore[union-attr]
            except BaseException as exc:
                self._error = exc
                self._state = "failed"
                raise
            self._state = "done"
        elif self._state == "running":
            raise RuntimeError(
                "A template awaited a context value while it was already being "
                "awaited; pass resolve_concurrently=True to arender_to_string() "
                "to await it once before rendering."
            )
        if self._state == "failed":
            raise self._error  # type: ignore[misc]
        return self._value

    def discard(self) -> None:
        """Close a coroutine that the template never used, so it does not
        warn about never being awaited."""
        awaitable, self._awaitable = self._awaitable, None
        close = getattr(awaitable, "close", None)
        if self._state == "pending" and close is not None:
            close()

    def __repr__(self) -> str:
        return f"<awaitable context value {self._state}>"


async def _resolve_all(values: list[Awaitable[Any]]) -> list[Any]:
    """Await ``values`` concurrently, each in its own task; if one fails,
    cancel the rest and raise that failure."""
    tasks = [asyncio.ensure_future(value) for value in values]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _prepare(
    context: Mapping[str, Any] | None, resolve_concurrently: bool
) -> tuple[dict[str, Any] | None, list[_Once]]:
    """Copy ``context`` (backends add keys to it) and deal with its
    awaitables: resolve them now, or wrap them so the template awaits each
    one at most once."""
    if context is None:
        return None, []
    if not isinstance(context, Mapping):
        raise TypeError(
            f"context must be a dict, not {type(context).__name__}. Pass a plain "
            "dict; arender_to_string() builds the template Context itself."
        )
    prepared = dict(context)
    pending = [key for key, value in prepared.items() if _is_awaitable(value)]
    if not pending:
        return prepared, []
    if resolve_concurrently:
        results = await _resolve_all([prepared[key] for key in pending])
        prepared.update(zip(pending, results, strict=True))
        return prepared, []
    wrapped = []
    for key in pending:
        value = prepared[key]
        if not isinstance(value, asyncio.Future):  # futures can be re-awaited
            value = prepared[key] = _Once(value)
            wrapped.append(value)
    return prepared, wrapped


async def arender_to_string(
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
    using: str | None = None,
    *,
    resolve_concurrently: bool = False,
) -> str:
    """Render a template to a string without blocking the event loop.

    The async counterpart of :func:`django.template.loader.render_to_string`,
    with the same arguments, for every configured engine (Django templates,
    Jinja2). Rendering runs in a bridge greenlet of the calling task, so
    database queries made while rendering use the task's own connection and
    wait asynchronously.

    Awaitables at the top level of ``context`` are awaited when the template
    first uses them, or all together before rendering with
    ``resolve_concurrently=True`` (each in its own task, so database
    coroutines run on separate connections, in parallel). Coroutines the
    template never uses are closed.
    """
    prepared, wrapped = await _prepare(context, resolve_concurrently)
    try:
        return await run_sync(
            loader.render_to_string, template_name, prepared, request, using
        )
    finally:
        for value in wrapped:
            value.discard()


# -- Django templates: awaiting during variable resolution -------------------

_original_resolve_lookup = Variable._resolve_lookup
_STEP_KEY = "oneloop step value"  # a key no template can spell


def _resolve_lookup(self: Variable, context: BaseContext) -> Any:
    """``Variable._resolve_lookup`` that, inside a bridge, awaits what it
    finds awaitable. Outside a bridge it is Django's own, unchanged."""
    if not in_bridge():
        return _original_resolve_lookup(self, context)
    try:
        value = _original_resolve_lookup(self, context)
    except VariableDoesNotExist as exc:
        # Django could not look a name up on an awaitable halfway through the
        # lookup (``book.asummary.upper``): resolve it again one step at a
        # time, awaiting each step's result.
        params = exc.params
        if (
            len(self.lookups) > 1
            and isinstance(params, tuple)
            and len(params) == 2
            and _is_awaitable(params[1])
        ):
            return _resolve_by_steps(self, context, stale=params[1])
        raise
    if _is_awaitable(value):
        return await_(value)
    return value


def _resolve_by_steps(var: Variable, context: BaseContext, stale: object) -> Any:
    """Resolve ``var`` one lookup at a time with Django's own rules, awaiting
    each intermediate awaitable. ``stale`` is the awaitable Django stopped
    at; if it was made by calling an ``async def`` (not taken from the
    context), this resolution makes a fresh one and ``stale`` is closed."""
    seen: list[object] = []

    def step(lookups: tuple[str, ...]) -> Any:
        part = copy.copy(var)
        part.lookups = lookups
        value = _original_resolve_lookup(part, context)
        if _is_awaitable(value):
            seen.append(value)
            value = await_(value)
        return value

    try:
        current = step(var.lookups[:1])
        for bit in var.lookups[1:]:
            with context.push({_STEP_KEY: current}):
                current = step((_STEP_KEY, bit))
        return current
    finally:
        if not any(value is stale for value in seen):
            close = getattr(stale, "close", None)
            if close is not None and asyncio.iscoroutine(stale):
                close()


# Applied by oneloop.patches.install(), undone by uninstall(): Django
# templates await awaitables met during variable resolution in a bridge.
PATCHES = [(Variable, "_resolve_lookup", _resolve_lookup)]


# -- Jinja2 ------------------------------------------------------------------

_jinja2_environment: type | None = None


def _build_jinja2_environment() -> type:
    """Create the Jinja2 classes on first use, so jinja2 stays optional."""
    try:
        import jinja2
        import jinja2.runtime
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "oneloop.template.Jinja2Environment needs Jinja2: pip install jinja2"
        ) from exc

    class AwaitingContext(jinja2.runtime.Context):
        """Jinja2 context that awaits awaitable names and call results."""

        def resolve_or_missing(self, key: str) -> Any:
            return settle(super().resolve_or_missing(key))

        def call(self, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            return settle(super().call(obj, *args, **kwargs))

    class Jinja2Environment(jinja2.Environment):
        """A ``jinja2.Environment`` whose templates await awaitables they meet
        (names, attributes, items, call results) when rendered in a bridge.

        Use it as the Jinja2 backend's environment::

            TEMPLATES = [{
                "BACKEND": "django.template.backends.jinja2.Jinja2",
                "OPTIONS": {"environment": "oneloop.template.Jinja2Environment"},
                ...
            }]

        or return one from your own environment function.
        """

        context_class = AwaitingContext

        def getattr(self, obj: Any, attribute: str) -> Any:
            return settle(super().getattr(obj, attribute))

        def getitem(self, obj: Any, argument: Any) -> Any:
            return settle(super().getitem(obj, argument))

    Jinja2Environment.__module__ = __name__
    AwaitingContext.__module__ = __name__
    return Jinja2Environment


def __getattr__(name: str) -> Any:
    global _jinja2_environment
    if name == "Jinja2Environment":
        if _jinja2_environment is None:
            _jinja2_environment = _build_jinja2_environment()
        return _jinja2_environment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
