"""Every change oneloop makes to Django and asgiref, in one place.

``install()`` applies them (idempotent); ``uninstall()`` puts every original
back. ``docs/patches.md`` lists each one with the reason. Everything else in
oneloop uses Django's own extension points (ENGINE, BACKEND, EMAIL_BACKEND,
the ASGI handler, AppConfig).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync
from asgiref.sync import sync_to_async as asgiref_sync_to_async
from django.apps import apps
from django.core.signals import setting_changed
from django.db import connections

from oneloop import conf
from oneloop.bridge import await_, in_bridge, run_sync
from oneloop.connections import TaskConnectionHandler
from oneloop.db.backends import supports_bridge

__all__ = ["install", "installed", "sync_code_on_loop", "uninstall"]

# Django modules whose a*() methods wrap database-only sync code in
# sync_to_async: with oneloop ENGINEs that code is loop-safe, so it runs in a
# bridge greenlet instead of hopping to a thread.
# Each is (module, the app it needs installed, or None).
ORM_MODULES = (
    ("django.db.models.query", None),
    ("django.db.models.base", None),
    ("django.db.models.fields.related_descriptors", None),
    ("django.contrib.contenttypes.fields", "django.contrib.contenttypes"),
    ("django.contrib.auth.backends", "django.contrib.auth"),
    ("django.contrib.sessions.backends.db", "django.contrib.sessions"),
    # Signal.asend() runs sync receivers (update_last_login, ...) in a bridge.
    ("django.dispatch.dispatcher", None),
)

# Adapter modules that declare PATCHES: [(owner, attribute, new value), ...].
ADAPTERS = ("oneloop.mail", "oneloop.forms", "oneloop.template")

# Adapters applied when the module they patch is first imported: the test
# machinery (django.test imports unittest, jinja2, wsgiref...) costs a sync
# deployment start-up time it would never use; Channels is optional.
LAZY_ADAPTERS = {"django.test": "oneloop.test", "channels": "oneloop.channels"}

# (owner, attribute name, original value) for every patch, in install order.
_applied: list[tuple[Any, str, Any]] = []


def installed() -> bool:
    """Whether the patches are in place."""
    return bool(_applied)


# Marks an attribute that did not exist before install().
_ABSENT = object()


def _set(owner: Any, name: str, value: Any) -> None:
    _applied.append(
        (
            owner,
            name,
            owner.__dict__.get(name, _ABSENT)
            if isinstance(owner, type)
            else getattr(owner, name),
        )
    )
    setattr(owner, name, value)


def _adapter_patches(names: Sequence[str]) -> list[tuple[Any, str, Any]]:
    """The patches each adapter module declares in its ``PATCHES`` list.
    Adapters whose optional dependency is missing declare nothing."""
    found: list[tuple[Any, str, Any]] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] == "oneloop":
                raise
            continue
        found.extend(module.PATCHES)
    return found


def install() -> None:
    """Apply oneloop's patches to Django (idempotent)."""
    if _applied:
        return
    import django.utils.asyncio

    # 1. @async_unsafe lets calls through inside a bridge greenlet.
    _set(django.utils.asyncio, "get_running_loop", _running_loop_outside_bridge)
    # 2. The ORM's a*() methods run in a bridge when every alias is loop-safe.
    for name, app in ORM_MODULES:
        if app is None or apps.is_installed(app):
            _set(importlib.import_module(name), "sync_to_async", orm_sync_to_async)
    # 3. django.db.connections: per-task wrappers inside a bridge.
    _set(connections, "__class__", TaskConnectionHandler)
    # 4. async_to_sync() inside a bridge awaits on the running loop, and the
    #    thread-sensitive sync_to_async() calls it makes come back to a bridge.
    _set(AsyncToSync, "__call__", _async_to_sync_call)
    _set(SyncToAsync, "__call__", _sync_to_async_call)
    # 5. What the adapters add: EmailMessage.asend(), form.ais_valid(), ...
    for owner, name, value in _adapter_patches(ADAPTERS):
        _set(owner, name, value)
    # 6. cached_db sessions: aexists() awaits the cache (Django's calls the
    #    sync cache from async code).
    if apps.is_installed("django.contrib.sessions"):
        from django.contrib.sessions.backends import cached_db

        _set(cached_db.SessionStore, "aexists", _cached_db_aexists)
    # 7. Once Django's test machinery (or Channels) is imported, its adapter.
    for module, adapter in LAZY_ADAPTERS.items():
        if module in sys.modules:
            _apply_lazy(adapter)
        else:
            sys.meta_path.insert(0, _AfterImport(module, adapter))
    setting_changed.connect(_reset_loop_safety)


def _apply_lazy(adapter: str) -> None:
    if _applied:  # not uninstalled meanwhile
        for owner, name, value in _adapter_patches((adapter,)):
            _set(owner, name, value)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Applies an adapter's patches right after ``module`` is first imported.
    It finds nothing itself: it wraps the loader the other finders return."""

    def __init__(self, module: str, adapter: str) -> None:
        self.module = module
        self.adapter = adapter

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)  # once, and not from inside find_spec below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _apply_lazy(self.adapter)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def uninstall() -> None:
    """Undo every patch, newest first."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterImport)]
    while _applied:
        owner, name, original = _applied.pop()
        if original is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    setting_changed.disconnect(_reset_loop_safety)
    _loop_safe.cache_clear()


async def _cached_db_aexists(self: Any, session_key: str | None) -> bool:
    """Django's ``cached_db.SessionStore.aexists`` with an async cache lookup.
    Django's tests the cache with ``key in cache``: a sync cache call in async
    code, which blocks the loop on a network cache (oneloop's ``RedisCache``
    refuses it), so ``alogin()`` failed with cached_db sessions."""
    from django.contrib.sessions.backends import cached_db

    return bool(
        session_key and await self._cache.ahas_key(self.cache_key_prefix + session_key)
    ) or await super(cached_db.SessionStore, self).aexists(session_key)


def _running_loop_outside_bridge() -> asyncio.AbstractEventLoop:
    """``asyncio.get_running_loop`` as ``@async_unsafe`` should see it: code in
    a bridge greenlet does its IO through ``await_``, so it is not "in an async
    context" in the sense the guard protects against."""
    loop = asyncio.get_running_loop()
    if in_bridge():
        raise RuntimeError("in a oneloop bridge")
    return loop


@functools.cache
def _loop_safe() -> bool:
    """True when every configured database's backend does its IO through the
    bridge (a oneloop ENGINE or a subclass), so ORM code never blocks the loop.
    A stock ENGINE would block it: then the ORM keeps Django's thread hop (and
    the ``oneloop.W001`` check says so)."""
    from django.conf import settings

    return all(supports_bridge(db) for db in settings.DATABASES.values())


def sync_code_on_loop() -> bool:
    """Whether Django's (and Channels') sync code that asgiref would send to a
    thread runs in a bridge instead: every alias is loop-safe and
    ``SYNC_VIEWS`` is ``"greenlet"``. ``SYNC_VIEWS="thread"`` is stock."""
    return conf.get("SYNC_VIEWS") == "greenlet" and _loop_safe()


def _reset_loop_safety(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _loop_safe.cache_clear()


def orm_sync_to_async(
    func: Callable[..., Any] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Any = None,
) -> Any:
    """What Django's ORM modules call as ``sync_to_async`` after install: a
    bridge when every alias is loop-safe and ``SYNC_VIEWS`` is ``"greenlet"``.
    ``SYNC_VIEWS="thread"`` is stock Django: the ORM's ``a*()`` methods, the
    sync receivers of ``Signal.asend`` and auth backends hop to a thread."""
    if func is not None and sync_code_on_loop():
        return functools.partial(run_sync, func)
    return asgiref_sync_to_async(
        func, thread_sensitive=thread_sensitive, executor=executor
    )


_stock_async_to_sync_call = AsyncToSync.__call__
_stock_sync_to_async_call = SyncToAsync.__call__

# True while a coroutine runs under async_to_sync() called from a bridge: the
# "outer sync thread" of asgiref's model is then that bridge's task.
_sync_home_is_bridge: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "oneloop_sync_home_is_bridge", default=False
)


def _async_to_sync_call(self: AsyncToSync, *args: Any, **kwargs: Any) -> Any:
    """Inside a bridge there is a loop to await on: use it (no new thread, no
    new loop). Elsewhere asgiref's own behaviour."""
    if not in_bridge():
        return _stock_async_to_sync_call(self, *args, **kwargs)
    token = _sync_home_is_bridge.set(True)
    try:
        return await_(self.awaitable(*args, **kwargs))
    finally:
        _sync_home_is_bridge.reset(token)


async def _sync_to_async_call(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
    """asgiref runs a thread-sensitive ``sync_to_async(f)`` on the sync thread
    that called ``async_to_sync`` around it, so ``f`` sees that thread's
    database connection and open transaction. When that caller was a bridge,
    the equivalent is a bridge greenlet of the same task: ``f`` runs there,
    on the same connection, instead of on a thread with a connection of its
    own. Every other call is asgiref's own."""
    if self._thread_sensitive and _sync_home_is_bridge.get():
        return await run_sync(self.func, *args, **kwargs)
    return await _stock_sync_to_async_call(self, *args, **kwargs)
