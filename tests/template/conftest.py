from __future__ import annotations

import pytest

from tests.testapp_tpl import TEMPLATES


@pytest.fixture(autouse=True)
def tpl_templates(settings):
    """This app's templates and tags, and a Jinja2 engine named "jinja2"."""
    settings.TEMPLATES = TEMPLATES
