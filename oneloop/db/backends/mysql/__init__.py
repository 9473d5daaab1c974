"""``ENGINE: "oneloop.db.backends.mysql"`` (MySQL and MariaDB)."""
