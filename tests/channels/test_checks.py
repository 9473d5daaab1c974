"""System checks for a Channels project: the ``"http"`` route must be
oneloop's handler, and ``ASGI_APPLICATION`` must name the router."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import run_checks
from django.test import override_settings

from oneloop.asgi import check_asgi_application
from oneloop.checks import check_channels

WITH_CHANNELS = [*settings.INSTALLED_APPS, "channels"]


@override_settings(ASGI_APPLICATION="tests.channels.project.asgi_stock.application")
def test_stock_handler_on_the_http_route_warns():
    messages = check_asgi_application()
    assert [m.id for m in messages] == ["oneloop.W101"]
    assert "django.core.handlers.asgi.ASGIHandler" in messages[0].msg
    assert '"http" route' in messages[0].hint


@override_settings(ASGI_APPLICATION="tests.channels.project.asgi.application")
def test_oneloop_handler_on_the_http_route_passes():
    assert check_asgi_application() == []


@override_settings(INSTALLED_APPS=WITH_CHANNELS, ASGI_APPLICATION=None)
def test_channels_without_asgi_application_warns():
    messages = [m for m in run_checks() if m.id.startswith("oneloop.")]
    assert [m.id for m in messages] == ["oneloop.W102"]
    assert "ASGI_APPLICATION" in messages[0].hint
    assert "oneloop.asgi.get_asgi_application()" in messages[0].hint


@override_settings(
    INSTALLED_APPS=WITH_CHANNELS,
    ASGI_APPLICATION="tests.channels.project.asgi.application",
)
def test_channels_with_asgi_application_passes():
    assert check_channels() == []


def test_no_channels_no_warning():
    assert check_channels() == []
