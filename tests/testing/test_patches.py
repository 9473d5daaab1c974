"""The testing patches are applied by install() and fully undone."""

from django.test import TestCase, TransactionTestCase
from django.test import client as django_client
from django.test import testcases as django_testcases
from django.test.utils import CaptureQueriesContext

import oneloop
import oneloop.test


def test_install_applies_and_uninstall_restores_every_test_patch():
    stock = {
        (id(owner), name): vars(owner).get(name)
        for owner, name, _ in oneloop.test.PATCHES
    }
    assert django_client.AsyncClientHandler is oneloop.test.AsyncClientHandler
    oneloop.uninstall()
    try:
        for owner, name, replacement in oneloop.test.PATCHES:
            assert vars(owner).get(name) is not replacement
        # Class methods come back as class methods, not as bound methods.
        assert isinstance(vars(TestCase)["_enter_atomics"], classmethod)
        assert isinstance(vars(TestCase)["_rollback_atomics"], classmethod)
        assert django_testcases.LiveServerThread.__module__ == "django.test.testcases"
        assert "__enter__" in vars(CaptureQueriesContext)
        assert "_fixture_teardown" in vars(TransactionTestCase)
    finally:
        oneloop.install()
    for owner, name, replacement in oneloop.test.PATCHES:
        assert vars(owner).get(name) is replacement
        assert stock[(id(owner), name)] is replacement


def test_public_names_are_exported():
    for name in oneloop.test.__all__:
        assert getattr(oneloop.test, name) is not None
