"""``ENGINE: "oneloop.contrib.gis.db.backends.postgis"``."""
