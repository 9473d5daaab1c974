"""Features of the oneloop MySQL ENGINE: Django's, plus the deviations
recorded for Django's own test suite."""

from django.db.backends.mysql.features import DatabaseFeatures as MySQLFeatures
from django.utils.functional import cached_property

from oneloop.db.backends._deviations import merge_expected_failures, merge_skips


class DatabaseFeatures(MySQLFeatures):
    # Inside a bridge its IO awaits asyncmy (oneloop.db.backends).
    supports_oneloop_bridge = True

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:
        return merge_skips(super().django_test_skips, "mysql")

    @cached_property
    def django_test_expected_failures(self) -> set[str]:
        return merge_expected_failures(super().django_test_expected_failures, "mysql")
