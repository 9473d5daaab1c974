"""``ENGINE: "tests.custom_backend.mysql"``."""
