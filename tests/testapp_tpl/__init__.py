"""Templates, template tags, forms and a ``@dual`` helper for the tests of
oneloop's template, form and dual adapters."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

#: TEMPLATES for these tests: Django's engine with this app's templates and
#: tags, and Jinja2 (named "jinja2") with oneloop's awaiting environment.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(HERE / "templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "libraries": {"tpl_tags": "tests.testapp_tpl.templatetags.tpl_tags"},
            "context_processors": [
                "django.template.context_processors.request",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [str(HERE / "jinja2")],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "oneloop.template.Jinja2Environment"},
    },
]


def run_on_new_loop(awaitable):
    """``asyncio.run(awaitable)`` for sync tests that compare the stock path
    with the bridged one; the loop's connection pools are closed before the
    loop is, as an ASGI server's lifespan shutdown does."""
    import asyncio

    from oneloop.db import aclose_pools

    async def main():
        try:
            return await awaitable
        finally:
            await aclose_pools()

    return asyncio.run(main())
