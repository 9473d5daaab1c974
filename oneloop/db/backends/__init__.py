"""Django database ENGINEs whose IO goes through the bridge.

Whether an alias does is a property of its backend class, not of its ENGINE's
name: ``DatabaseFeatures.supports_oneloop_bridge``. oneloop's ENGINEs set it,
and a project's own backend that subclasses one of them (the usual way to
customise a backend, as django-tenants, django-prometheus and GeoDjango do)
inherits it, so it keeps the loop path.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import load_backend

__all__ = ["supports_bridge", "wrapper_class"]


def wrapper_class(settings_dict: Mapping[str, Any]) -> type[Any] | None:
    """The ``DatabaseWrapper`` class of an alias's ENGINE, found without
    opening a connection; ``None`` when the ENGINE cannot be imported (Django
    says why as soon as the alias is used)."""
    return _wrapper_class(settings_dict.get("ENGINE") or "django.db.backends.dummy")


@functools.cache
def _wrapper_class(engine: str) -> type[Any] | None:
    try:
        return load_backend(engine).DatabaseWrapper
    except ImproperlyConfigured:
        return None


def supports_bridge(settings_dict: Mapping[str, Any]) -> bool:
    """True when the alias's backend does its IO through the bridge, so ORM
    code on it never blocks the loop."""
    cls = wrapper_class(settings_dict)
    return cls is not None and getattr(
        cls.features_class, "supports_oneloop_bridge", False
    )
