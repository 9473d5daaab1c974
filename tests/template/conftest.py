from __future__ import annotations

import pytest

import oneloop.template
from tests.testapp_tpl import TEMPLATES


@pytest.fixture(autouse=True)
def tpl_templates(settings):
    """This app's templates and tags, and a Jinja2 engine named "jinja2"."""
    settings.TEMPLATES = TEMPLATES


@pytest.fixture(autouse=True)
def template_patch():
    """The template patch, as ``oneloop.install()`` applies it; restored after."""
    was_installed = oneloop.template.installed()
    oneloop.template.install()
    yield
    if not was_installed:
        oneloop.template.uninstall()
