"""A project's own database backends on oneloop's ENGINEs, made the way
django-tenants, django-prometheus and GeoDjango make theirs: a subclass of the
ENGINE's ``DatabaseWrapper`` that adds what it customises and inherits the
rest, here an instrumenting mixin."""

from typing import Any


class CountingCursors:
    """Counts the cursors a backend creates, as an instrumenting backend
    would: proof that queries went through the project's backend."""

    cursors_created = 0

    def create_cursor(self, name: Any = None) -> Any:
        CountingCursors.cursors_created += 1
        return super().create_cursor(name)  # type: ignore[misc]
