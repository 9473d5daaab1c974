"""System checks and settings validation of ``oneloop.asgi``."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from oneloop import conf
from oneloop.asgi import ASGIHandler, check_asgi_application


@override_settings(ASGI_APPLICATION="tests.asgi.project.asgi_stock.application")
def test_stock_handler_with_oneloop_installed_warns():
    messages = check_asgi_application()
    assert [m.id for m in messages] == ["oneloop.W101"]
    assert "django.core.handlers.asgi.ASGIHandler" in messages[0].msg
    assert "from oneloop.asgi import get_asgi_application" in messages[0].hint


@override_settings(ASGI_APPLICATION="tests.asgi.project.asgi_stock.application")
def test_the_stock_handler_check_runs_with_deploy_checks_only():
    """It imports the project's ASGI module: `manage.py migrate` and the other
    commands that run checks don't pay for that; `check --deploy` does."""
    assert "oneloop.W101" not in [m.id for m in run_checks()]
    deploy = run_checks(include_deployment_checks=True)
    assert "oneloop.W101" in [m.id for m in deploy]


@override_settings(ASGI_APPLICATION="tests.asgi.project.asgi.application")
def test_oneloop_handler_behind_the_static_files_handler_passes():
    assert check_asgi_application() == []


@override_settings(ASGI_APPLICATION=None, WSGI_APPLICATION=None)
def test_no_known_asgi_application_passes():
    assert check_asgi_application() == []


@override_settings(ONELOOP={"SYNC_VIEWS": "fiber"})
def test_wrong_sync_views_is_refused_with_the_allowed_values():
    with pytest.raises(ImproperlyConfigured, match=r'"greenlet".*"thread"'):
        ASGIHandler()


@override_settings(ONELOOP={"BLOCK_WARN_MS": -5})
def test_wrong_block_warn_ms_is_refused():
    with pytest.raises(ImproperlyConfigured, match="milliseconds above 0"):
        ASGIHandler()


@override_settings(ONELOOP={"BLOCK_WARN_MS": None})
def test_settings_accessor_defaults():
    assert conf.get("SYNC_VIEWS") == "greenlet"
    assert conf.get("BLOCK_WARN_MS") is None


@pytest.mark.parametrize("value", [0, -1, "5", True, None])
def test_wrong_clean_up_timeout_is_a_system_check_error(value):
    with override_settings(ONELOOP={"CLEANUP_TIMEOUT": value}):
        errors = [m for m in run_checks() if m.id == "oneloop.E002"]
    assert [e.msg for e in errors] == [f"ONELOOP['CLEANUP_TIMEOUT'] is {value!r}."]
    assert "seconds above 0" in errors[0].hint


def test_clean_up_timeout_defaults_to_a_few_seconds():
    assert conf.clean_up_timeout() == 5.0
    with override_settings(ONELOOP={"CLEANUP_TIMEOUT": 0.5}):
        assert conf.clean_up_timeout() == 0.5
