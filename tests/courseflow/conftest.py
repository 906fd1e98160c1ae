"""Fixtures for the courseflow-shaped example: a roster on disk and a config for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def course(tmp_path: Path) -> dict[str, Any]:
    """Return the example flow's config over a two-student roster in ``tmp_path``."""
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps([{"netid": "ab1", "name": "Ann"}, {"netid": "cd2", "name": "Cy"}]))
    return {
        "tags": {"file_path": str(tmp_path / "tags.json")},
        "get-tags": {"roster_path": str(roster), "lab": "lab1"},
        "choose-commits": {"commit_prefix": "abc"},
        "push-tags": {},
    }
