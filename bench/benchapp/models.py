"""The one table every system in the benchmark reads."""

from django.db import models


class Item(models.Model):
    """A row looked up by its indexed ``n`` column.

    The table name is fixed (``bench_item``) so the non-Django peers (FastAPI +
    SQLAlchemy, raw psycopg) read exactly the same table.
    """

    n = models.IntegerField(db_index=True)
    name = models.CharField(max_length=64)
    value = models.IntegerField()

    class Meta:
        app_label = "benchapp"
        db_table = "bench_item"

    def __str__(self) -> str:
        return self.name
