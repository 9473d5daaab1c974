"""``oneloop.atomic``: one transaction API for sync and async code."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from django.db import DEFAULT_DB_ALIAS
from django.db import transaction as django_transaction

from oneloop.bridge import run_sync, run_sync_shielded

__all__ = ["Atomic", "atomic"]

F = TypeVar("F", bound=Callable[..., Any])


class Atomic:
    """Django's ``atomic``, usable as ``with``, ``async with`` and as a
    decorator of sync and async functions.

    ``async with`` runs Django's own ``Atomic`` in the task's bridge, so the
    block uses the task's connection; its exit (commit, or rollback on an
    exception or a cancellation) completes even if the task is cancelled
    again meanwhile. ``transaction.on_commit`` callbacks run after the commit.
    """

    def __init__(self, using: str | None, savepoint: bool, durable: bool) -> None:
        self.using = using
        self.savepoint = savepoint
        self.durable = durable
        self._blocks: list[django_transaction.Atomic] = []

    def _new_block(self) -> django_transaction.Atomic:
        block = django_transaction.Atomic(self.using, self.savepoint, self.durable)
        self._blocks.append(block)
        return block

    def __enter__(self) -> None:
        self._new_block().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._blocks.pop().__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> None:
        await run_sync(self._new_block().__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await run_sync_shielded(self._blocks.pop().__exit__, exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                async with Atomic(self.using, self.savepoint, self.durable):
                    return await func(*args, **kwargs)

            return async_inner  # type: ignore[return-value]

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with Atomic(self.using, self.savepoint, self.durable):
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]


@overload
def atomic(using: F) -> F: ...
@overload
def atomic(
    using: str | None = None, savepoint: bool = True, durable: bool = False
) -> Atomic: ...
def atomic(
    using: str | Callable[..., Any] | None = None,
    savepoint: bool = True,
    durable: bool = False,
) -> Any:
    """Like ``django.db.transaction.atomic``, and also ``async with``-able and
    a decorator of ``async def`` functions."""
    if callable(using):
        return Atomic(DEFAULT_DB_ALIAS, savepoint, durable)(using)
    return Atomic(using, savepoint, durable)
