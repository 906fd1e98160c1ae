"""Field validators shared by the models, the admin forms and the system checks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .schedule.cron import validate_cron

__all__ = ["parse_recipients", "validate_cron", "validate_recipients"]


def parse_recipients(text: str) -> list[str]:
    """Return the addresses in ``text``: separated by commas, semicolons or line breaks."""
    return [
        part.strip()
        for part in text.replace(";", ",").replace("\n", ",").split(",")
        if part.strip()
    ]


def validate_recipients(text: str) -> None:
    """Refuse a recipient list holding anything that is not an email address, naming it."""
    bad = []
    for address in parse_recipients(text):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(
            "not an email address: %(bad)s (separate addresses with commas or new lines)",
            code="invalid_recipients",
            params={"bad": ", ".join(repr(b) for b in bad)},
        )
