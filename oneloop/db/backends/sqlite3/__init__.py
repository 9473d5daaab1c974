"""``ENGINE: "oneloop.db.backends.sqlite3"``: the embedded default."""
