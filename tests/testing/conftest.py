"""The testing suite runs against the sample project's URLs and templates."""

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
