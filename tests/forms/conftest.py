from __future__ import annotations

import pytest

import oneloop.forms


@pytest.fixture(autouse=True)
def forms_patch():
    """The forms patch, as ``oneloop.install()`` applies it; restored after."""
    was_installed = oneloop.forms.installed()
    oneloop.forms.install()
    yield
    if not was_installed:
        oneloop.forms.uninstall()
