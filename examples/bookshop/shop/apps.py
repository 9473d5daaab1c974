"""The bookshop's one app."""

from django.apps import AppConfig, apps


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Bookshop"

    def ready(self) -> None:
        if apps.is_installed("oneloop"):
            _ensure_form_and_template_adapters()


def _ensure_form_and_template_adapters() -> None:
    """The async validator and lazy querysets in templates need oneloop's form
    and template adapters. ``oneloop.install()`` applies them; this applies
    any that a oneloop version leaves out, so the demo works with either."""
    from oneloop import forms, patches, template

    for module in (forms, template):
        if module.__name__ in getattr(patches, "ADAPTERS", ()):
            continue
        for owner, name, value in getattr(module, "PATCHES", ()):
            setattr(owner, name, value)
        install = getattr(module, "install", None)
        if install is not None:
            install()
