"""Async form validation: ``await ais_valid(form)`` and ``async def`` validators.

``ais_valid(form)`` runs Django's own ``form.is_valid()`` in a bridge greenlet
of the calling task. Every query validation makes — ``ModelChoiceField``
lookups, ``ModelForm`` uniqueness checks, your ``clean_<field>()`` — waits
asynchronously on the task's own connection, and ``form.errors`` afterwards
is exactly what ``is_valid()`` would give.

After :func:`install` (done by ``oneloop.install()``):

* ``await form.ais_valid()`` and ``await formset.ais_valid()``;
* validators may be ``async def`` — functions, methods, or objects with an
  ``async def __call__`` — on form fields and on model fields;
* ``clean()`` and ``clean_<field>()`` of forms, and ``clean()`` of formsets,
  may be ``async def``.

An async validator is awaited where Django calls it: inside a bridge without
blocking the loop, in plain sync code (no loop running) on a private loop,
so ``is_valid()`` keeps working in management commands and WSGI.
"""

from __future__ import annotations

import functools
import types
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.db.models import Field as ModelField
from django.forms import BaseForm, Field
from django.forms.formsets import BaseFormSet

from oneloop.bridge import await_, run_sync

__all__ = ["ais_valid", "is_async_callable"]


async def ais_valid(form: BaseForm | BaseFormSet) -> bool:
    """Validate a bound form or formset without blocking the event loop.

    Returns what ``form.is_valid()`` returns and leaves the same
    ``form.errors`` (and ``cleaned_data``) behind. Async validators and
    ``async def`` clean methods need oneloop installed (the ``oneloop`` app
    does it).
    """
    return await run_sync(form.is_valid)


async def _ais_valid_method(self: BaseForm | BaseFormSet) -> bool:
    """Validate this form without blocking the event loop; see
    :func:`oneloop.forms.ais_valid`."""
    return await run_sync(self.is_valid)


# -- telling async callables apart -----------------------------------------

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, read from the code object below
_ASYNC_CALL_TYPES: dict[type, bool] = {}


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` returns a coroutine: an ``async def`` function or
    method, a ``functools.partial`` of one, a function marked with
    ``asgiref.sync.markcoroutinefunction``, or an object whose ``__call__`` is
    ``async def``. Fast for plain functions, which most validators are."""
    kind = type(fn)
    if kind is types.FunctionType:
        if fn.__code__.co_flags & _CO_COROUTINE:  # type: ignore[attr-defined]
            return True
        # Only a function with attributes can carry a "coroutine function" mark.
        return bool(fn.__dict__) and iscoroutinefunction(fn)
    if kind is types.MethodType:
        return is_async_callable(fn.__func__)  # type: ignore[attr-defined]
    if kind is functools.partial:
        return is_async_callable(fn.func)  # type: ignore[attr-defined]
    verdict = _ASYNC_CALL_TYPES.get(kind)
    if verdict is None:
        call = getattr(kind, "__call__", None)  # noqa: B004 (the type's method)
        verdict = call is not None and iscoroutinefunction(call)
        _ASYNC_CALL_TYPES[kind] = verdict
    return verdict


def _settling(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a sync callable: the coroutine it returns is awaited."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return await_(fn(*args, **kwargs))

    return call


# -- validators ---------------------------------------------------------------


class _FieldWithSettlingValidators:
    """Stands in for a field while Django's own ``run_validators`` runs: the
    field's attributes, except that async validators are awaited when called.
    Keeps Django's error handling authoritative without changing the field,
    which (for model fields) is shared by every task and thread."""

    __slots__ = ("_field", "validators")

    def __init__(self, field: Any, validators: Iterable[Any]) -> None:
        self._field = field
        self.validators = [
            _settling(v) if is_async_callable(v) else v for v in validators
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._field, name)


def _patched_run_validators(original: Callable[[Any, Any], None]) -> Any:
    def run_validators(self: Any, value: Any) -> None:
        validators = self.validators
        for validator in validators:
            if is_async_callable(validator):
                break
        else:
            return original(self, value)
        return original(_FieldWithSettlingValidators(self, validators), value)

    run_validators.__doc__ = (
        "Django's run_validators; async validators are awaited (oneloop)."
    )
    run_validators._oneloop_original = original  # type: ignore[attr-defined]
    return run_validators


# -- async clean methods ------------------------------------------------------

_async_cleaners: weakref.WeakKeyDictionary[type, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


def _cleaner_names(cls: type) -> tuple[str, ...]:
    """Names of the ``async def`` clean methods of a form or formset class."""
    names = _async_cleaners.get(cls)
    if names is None:
        names = tuple(
            name
            for name in dir(cls)
            if (name == "clean" or name.startswith("clean_"))
            and is_async_callable(getattr(cls, name, None))
        )
        _async_cleaners[cls] = names
    return names


def _patched_full_clean(original: Callable[[Any], None]) -> Any:
    def full_clean(self: Any) -> None:
        names = _cleaner_names(type(self))
        if not names:
            return original(self)
        # Shadow each async clean method on this instance (not the class: other
        # tasks may be validating other instances) with a sync one that awaits.
        shadowed = self.__dict__
        for name in names:
            shadowed[name] = _settling(getattr(self, name))
        try:
            return original(self)
        finally:
            for name in names:
                shadowed.pop(name, None)

    full_clean.__doc__ = "Django's full_clean; async clean methods are awaited."
    full_clean._oneloop_original = original  # type: ignore[attr-defined]
    return full_clean


# -- the patches ------------------------------------------------------------

_TARGETS: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (Field, "run_validators", _patched_run_validators),
    (ModelField, "run_validators", _patched_run_validators),
    (BaseForm, "full_clean", _patched_full_clean),
    (BaseFormSet, "full_clean", _patched_full_clean),
)


# Applied by oneloop.patches.install(), undone by uninstall(): async
# validators and clean methods, and form.ais_valid() / formset.ais_valid().
PATCHES = [
    *((cls, name, patch(cls.__dict__[name])) for cls, name, patch in _TARGETS),
    (BaseForm, "ais_valid", _ais_valid_method),
    (BaseFormSet, "ais_valid", _ais_valid_method),
]
