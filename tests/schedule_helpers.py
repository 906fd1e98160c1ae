"""What the schedule tests share: instants in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(*args: int) -> datetime:
    """Return the instant ``datetime(*args)`` in UTC."""
    return datetime(*args, tzinfo=UTC)
