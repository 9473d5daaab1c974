"""``@dual``: write a function once, in sync style, and call it from both worlds.

A library function that queries the ORM, renders a template or sends an email
is written once, as ordinary sync Django code, and decorated::

    @oneloop.dual
    def notify(author_id):
        ...

    notify(7)                      # sync callers: unchanged, works everywhere
    await notify.asynchronous(7)   # async callers: async-native IO, no thread

``f.asynchronous(...)`` runs ``f`` in a bridge greenlet of the calling task
(:func:`oneloop.run_sync`), so every database query, cache call and email it
makes waits on the event loop through oneloop's backends. There is one code
path to write, test and maintain.

It works on plain functions, methods, class methods and static methods: the
decorator follows the descriptor protocol, so ``obj.method.asynchronous()``
binds ``obj`` as ``obj.method()`` does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar, overload

from oneloop.bridge import run_sync

__all__ = ["dual"]

P = ParamSpec("P")
T = TypeVar("T")


class _BoundDual(Generic[P, T]):
    """A ``dual`` function bound to an instance or class (what ``obj.method``
    gives for a ``@dual`` method)."""

    __slots__ = ("__func__", "__self__", "_call")

    def __init__(self, call: Callable[P, T], func: Any, owner: Any) -> None:
        self._call = call
        self.__func__ = func
        self.__self__ = owner

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._call(*args, **kwargs)

    def asynchronous(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        """Run the method in a bridge greenlet: async-native IO, no thread."""
        return run_sync(self._call, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<bound dual {self.__func__!r} of {self.__self__!r}>"


class dual(Generic[P, T]):
    """Give a sync function an async twin that runs it in a bridge.

    ``f(...)`` calls the function as written. ``await f.asynchronous(...)``
    runs the same function in a bridge greenlet on the running loop and
    returns its result (or raises its exception); its IO through oneloop's
    backends waits asynchronously, so many calls run concurrently on one
    thread. Decorate ``def`` functions only: an ``async def`` function
    already is the async version.
    """

    def __init__(self, func: Callable[P, T]) -> None:
        target = func.__func__ if isinstance(func, classmethod | staticmethod) else func
        if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
            raise TypeError(
                f"@dual needs a sync function, but {target.__qualname__} is "
                "'async def'. Write it as a plain 'def' (its IO goes async-native "
                "when run through .asynchronous()), or call the async function "
                "directly."
            )
        if not callable(target):
            raise TypeError(f"@dual needs a function, not {type(func).__name__}")
        functools.update_wrapper(self, target)  # __name__, __doc__, __wrapped__
        self._func = func

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._func(*args, **kwargs)  # type: ignore[operator]

    def asynchronous(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]:
        """Run the function in a bridge greenlet of the calling task and
        return its result: async-native IO, no thread."""
        return run_sync(self._func, *args, **kwargs)  # type: ignore[arg-type]

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> dual[P, T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _BoundDual: ...
    def __get__(self, obj: object, owner: type | None = None) -> Any:
        func = self._func
        if obj is None and not isinstance(func, classmethod | staticmethod):
            return self  # looked up on the class: the plain function
        bound = func.__get__(obj, owner)  # type: ignore[union-attr]
        return _BoundDual(bound, self, obj if obj is not None else owner)

    def __repr__(self) -> str:
        return f"<dual {self.__qualname__}>"  # type: ignore[attr-defined]
