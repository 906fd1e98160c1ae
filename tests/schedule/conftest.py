"""Fixtures of the schedule tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def amsterdam(settings) -> None:
    """Read schedules in Amsterdam's zone.

    It springs forward 2024-03-31 02:00 -> 03:00 and falls back 2024-10-27 03:00 -> 02:00.
    """
    settings.TIME_ZONE = "Europe/Amsterdam"
