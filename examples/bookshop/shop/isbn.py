"""ISBN-13 helpers: the check digit, and the sync validator for it."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def check_digit(first12: str) -> str:
    """The 13th digit of an ISBN-13 whose first 12 digits are ``first12``."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def make_isbn(prefix: str, serial: int) -> str:
    """A valid ISBN-13: a 7-digit publisher prefix, a 5-digit serial, a check
    digit."""
    first12 = f"{prefix}{serial:05d}"
    return first12 + check_digit(first12)


def validate_isbn13(value: str) -> None:
    """Reject anything that is not 13 digits with a correct check digit."""
    if len(value) != 13 or not value.isdigit():
        raise ValidationError("An ISBN-13 has exactly 13 digits.", code="isbn")
    if check_digit(value[:12]) != value[12]:
        raise ValidationError(
            "%(value)s has a wrong check digit.", code="isbn", params={"value": value}
        )
