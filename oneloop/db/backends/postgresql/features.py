"""Features of the oneloop PostgreSQL ENGINE: Django's, plus the deviations
recorded for Django's own test suite."""

from django.db.backends.postgresql.features import (
    DatabaseFeatures as PostgreSQLFeatures,
)
from django.utils.functional import cached_property

from oneloop.db.backends._deviations import merge_expected_failures, merge_skips


class DatabaseFeatures(PostgreSQLFeatures):
    # Inside a bridge, this backend's IO is an await_ on the loop, so the
    # ORM's a*() methods run in a bridge, not in a thread (oneloop.db.backends).
    supports_oneloop_bridge = True

    @cached_property
    def django_test_skips(self) -> dict[str, set[str]]:
        return merge_skips(super().django_test_skips, "postgresql")

    @cached_property
    def django_test_expected_failures(self) -> set[str]:
        return merge_expected_failures(
            super().django_test_expected_failures, "postgresql"
        )
