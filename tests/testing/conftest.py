"""The testing suite runs against the sample project's URLs and templates."""

import contextlib
import warnings
from pathlib import Path

import pytest
from django.test import override_settings

from tests.settings import TEMPLATES

SAMPLE_SETTINGS = override_settings(
    ROOT_URLCONF="tests.testing.urls",
    TEMPLATES=[{**TEMPLATES[0], "DIRS": [Path(__file__).parent / "templates"]}],
)


@pytest.fixture(autouse=True)
def _sample_project():
    with SAMPLE_SETTINGS:
        yield


@contextlib.contextmanager
def django_engines():
    """Settings whose only database uses Django's own ENGINE. Django warns
    that overriding DATABASES does not reconnect anything: only what oneloop
    decides from the setting is under test, with no query made."""
    stock = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Overriding setting DATABASES")
        with override_settings(DATABASES=stock):
            yield
