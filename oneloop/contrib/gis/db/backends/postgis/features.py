"""Features of the oneloop PostGIS ENGINE: Django's PostGIS features, with the
oneloop PostgreSQL ENGINE's flag and recorded deviations."""

from django.contrib.gis.db.backends.postgis.features import (
    DatabaseFeatures as PostGISFeatures,
)

from oneloop.db.backends.postgresql.features import (
    DatabaseFeatures as OneloopPostgreSQLFeatures,
)


class DatabaseFeatures(PostGISFeatures, OneloopPostgreSQLFeatures):
    pass
