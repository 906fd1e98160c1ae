"""Fixtures for the engine tests; the step and storer classes live in helpers.py."""

from __future__ import annotations

import pytest

from adminflow import AdminFlow
from adminflow.engine import executor
from adminflow.engine.pool import WorkerPool

from .helpers import Recorder, make_storer


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def storer():
    """A storer class holding the records [1, 2, 3]."""
    return make_storer([1, 2, 3])


@pytest.fixture
def flow(storer) -> AdminFlow:
    """An empty flow over ``storer``; tests add their own steps."""
    return AdminFlow("test-flow", "a flow under test", storer, "records")


@pytest.fixture
def pool(monkeypatch):
    """A process-wide pool of its own for one test, so what it holds is the test's alone.

    Its threads are joined after the test.
    """
    fresh = WorkerPool("test-pool")
    monkeypatch.setattr(executor, "shared_pool", fresh)
    yield fresh
    fresh.close()
