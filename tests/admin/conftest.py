"""Fixtures of the admin tests."""

from __future__ import annotations

import pytest
from django.test import Client

from .run_helpers import VIEW, client_for


@pytest.fixture
def viewer() -> Client:
    """Return a client of staff who may view runs, and do nothing to them."""
    return client_for(VIEW)
