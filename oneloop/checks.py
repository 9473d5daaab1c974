"""System checks: misconfiguration is reported by ``manage.py check`` with
what is wrong and what to do, not discovered under load."""

from __future__ import annotations

from numbers import Real
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from oneloop import conf
from oneloop.db.backends import supports_bridge, wrapper_class

POOL_KEYS = {
    "min_size",
    "max_size",
    "timeout",
    "max_waiting",
    "max_lifetime",
    "max_idle",
    "reconnect_timeout",
    "num_workers",
    "name",
}
if django.VERSION >= (6, 1):
    POOL_KEYS.add("check")  # a health check replacing psycopg's
# The MySQL ENGINE's own pool knows fewer.
MYSQL_POOL_KEYS = {"min_size", "max_size", "timeout"}


@register(Tags.compatibility)
def check_databases(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    messages: list[Any] = []
    for alias, db in settings.DATABASES.items():
        if supports_bridge(db):
            mysql = wrapper_class(db).vendor == "mysql"
            known = MYSQL_POOL_KEYS if mysql else POOL_KEYS
            options = db.get("OPTIONS") or {}
            messages.extend(_check_pool(alias, options, known))
            messages.extend(_check_persistent(alias, db, options))
            if mysql:
                messages.extend(_check_driver_options(alias, db))
            continue
        messages.append(
            Warning(
                f"Database alias {alias!r} uses the ENGINE "
                f"{str(db.get('ENGINE', ''))!r}, which blocks the event loop.",
                hint="Use 'oneloop.db.backends.postgresql', "
                "'oneloop.db.backends.mysql' or 'oneloop.db.backends.sqlite3' "
                "('oneloop.contrib.gis.db.backends.postgis' for GeoDjango on "
                "PostGIS), or a backend that subclasses one. While any alias "
                "uses another ENGINE, the ORM's a*() methods keep Django's "
                "thread hop.",
                id="oneloop.W001",
            )
        )
    return messages


def _check_persistent(
    alias: str, db: dict[str, Any], options: dict[str, Any]
) -> list[Error]:
    """A pool next to ``CONN_MAX_AGE``, which a bridge refuses (as Django
    refuses it for its own pool) at the first query."""
    pool = options.get("pool")
    if pool is None or pool is False or not db.get("CONN_MAX_AGE"):
        return []
    return [
        Error(
            f"DATABASES[{alias!r}] has OPTIONS['pool'] and CONN_MAX_AGE = "
            f"{db['CONN_MAX_AGE']!r}: pooling doesn't support persistent "
            "connections.",
            hint="Remove CONN_MAX_AGE (the pool keeps the connections), or set "
            "OPTIONS['pool'] to False.",
            id="oneloop.E001",
        )
    ]


def _check_driver_options(alias: str, db: dict[str, Any]) -> list[Error]:
    """``OPTIONS`` of a MySQL/MariaDB alias that asyncmy, the driver in a
    bridge, does not take: refused at the first query in a bridge, so
    reported here before."""
    from django.core.exceptions import ImproperlyConfigured

    from oneloop.db.backends.mysql._facade import connect_kwargs

    settings_dict = {key: "" for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    settings_dict.update(db)
    settings_dict["OPTIONS"] = dict(db.get("OPTIONS") or {})
    try:
        wrapper = wrapper_class(db)(settings_dict, alias)
        connect_kwargs(alias, wrapper.get_connection_params())
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Each key of OPTIONS goes to mysqlclient outside a loop "
                "and to asyncmy in a bridge (docs/mysql.md).",
                id="oneloop.E003",
            )
        ]
    return []


def _check_pool(
    alias: str, options: dict[str, Any], known: set[str] = POOL_KEYS
) -> list[Error]:
    pool = options.get("pool")
    if pool is None or isinstance(pool, bool):
        return []
    where = f"DATABASES[{alias!r}]['OPTIONS']['pool']"
    if not isinstance(pool, dict):
        return [
            Error(
                f"{where} is {pool!r}.",
                hint='Use True, or a dict such as {"min_size": 2, "max_size": 20, '
                '"timeout": 10}.',
                id="oneloop.E001",
            )
        ]
    errors = []
    unknown = sorted(set(pool) - known)
    if unknown:
        errors.append(
            Error(
                f"{where} has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(known))}.",
                id="oneloop.E001",
            )
        )
    for key in ("min_size", "max_size"):
        value = pool.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            errors.append(
                Error(
                    f"{where}[{key!r}] is {value!r}.",
                    hint="Use a whole number of connections, 0 or more "
                    "(max_size at least 1).",
                    id="oneloop.E001",
                )
            )
    low, high = pool.get("min_size"), pool.get("max_size")
    if isinstance(high, int) and high < 1:
        errors.append(
            Error(
                f"{where}['max_size'] is {high}.",
                hint="max_size must be at least 1.",
                id="oneloop.E001",
            )
        )
    elif isinstance(low, int) and isinstance(high, int) and low > high:
        errors.append(
            Error(
                f"{where} has min_size={low} and max_size={high}.",
                hint="max_size must be at least min_size.",
                id="oneloop.E001",
            )
        )
    timeout = pool.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, Real) or isinstance(timeout, bool) or timeout <= 0
    ):
        errors.append(
            Error(
                f"{where}['timeout'] is {timeout!r}.",
                hint="Use the number of seconds to wait for a free connection, "
                "more than 0.",
                id="oneloop.E001",
            )
        )
    return errors


@register(Tags.compatibility, deploy=True)
def check_asgi_deployment(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``oneloop.W101``, a deployment check (``manage.py check --deploy``): it
    imports the project's ASGI module, which sync commands should not pay for."""
    from oneloop.asgi import check_asgi_application

    return check_asgi_application(app_configs, **kwargs)


@register(Tags.compatibility)
def check_channels(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``oneloop.W102``: Channels is installed but ``ASGI_APPLICATION`` is
    not set, so neither Channels' ``runserver`` (daphne) nor ``check
    --deploy`` can find the project's router and its ``"http"`` route."""
    if not apps.is_installed("channels") or getattr(settings, "ASGI_APPLICATION", None):
        return []
    return [
        Warning(
            "Channels is installed with oneloop, but ASGI_APPLICATION is not set: "
            "Channels' runserver and `manage.py check --deploy` cannot find the "
            "project's ProtocolTypeRouter.",
            hint='Set ASGI_APPLICATION = "<project>.asgi.application", a '
            'ProtocolTypeRouter whose "http" route is '
            "oneloop.asgi.get_asgi_application().",
            id="oneloop.W102",
        )
    ]


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return [Error(what, hint=hint, id="oneloop.E002") for what, hint in conf.problems()]
