"""``ENGINE: "tests.custom_backend.postgresql"``."""
