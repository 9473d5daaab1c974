"""Settings modules for running Django's own test suite (``tests/runtests.py``).

One module per backend and ENGINE family:

* ``postgresql`` / ``mysql`` / ``sqlite``: oneloop's ENGINEs.
* ``postgis``: oneloop's GeoDjango ENGINE, for ``gis_tests`` (runtests.py
  adds ``django.contrib.gis`` and the GIS tests when the ENGINE is spatial).
* ``postgresql_stock`` / ``mysql_stock`` / ``sqlite_stock`` /
  ``postgis_stock``: Django's own ENGINEs, the baseline every oneloop result
  is compared with.

They follow Django's ``tests/test_sqlite.py`` (the settings Django's CI uses)
and differ only in ``DATABASES``.
"""
