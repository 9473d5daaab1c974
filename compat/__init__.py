"""Harness that runs Django's own test suite against oneloop's ENGINEs, in sync
mode and fully bridged, next to Django's stock ENGINEs (``python -m compat``).

Not part of the installed package: it lives in the repository only.
"""
