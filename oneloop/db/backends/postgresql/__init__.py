"""``ENGINE: "oneloop.db.backends.postgresql"``."""
