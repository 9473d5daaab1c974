"""``ENGINE: "tests.custom_backend.sqlite3"``."""
