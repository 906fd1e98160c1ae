"""Fixtures of the fault tests: flow ``roster`` with gates of the test's, and real processes.

The processes (``runflow``, ``db_worker``) run with :mod:`tests.faults.settings`
on this test's database, and are killed when the test ends; what they
printed is shown if it failed. This process counts a run as stale after
:data:`STALE_AFTER` seconds, as they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection

from adminflow.models import Flow, FlowRun, StepRun
from adminflow.states import StepRunStatus
from tests.processes import Processes, django_command, processes_for_test
from tests.testapp.faults import BEFORE, NAME, SPEC, roster_config
from tests.testapp.models import Student

SETTINGS = "tests.faults.settings"
STALE_AFTER = 1.0
NEEDS_POSTGRESQL = "needs PostgreSQL: set DATABASE_URL=postgres://..."


@dataclass
class Roster:
    """Flow ``roster`` as the test stored it: its gates, and where storing pauses."""

    row: Flow
    step_gate: Path
    store_gate: Path

    def pause(self, where: str) -> None:
        """Make the flow's storer pause at the store gate ``where`` (see tests.faults.roster)."""
        self.row.config = roster_config(self.step_gate, self.store_gate, where)
        self.row.save(update_fields=["config"])

    def store_reached(self) -> bool:
        return self.store_gate.with_name(f"{self.store_gate.name}.reached").exists()

    def run(self) -> FlowRun:
        """Return the flow's only run."""
        return FlowRun.objects.get(flow=self.row)

    def step_running(self, step: str) -> bool:
        """Return whether the flow has a run whose step ``step`` is recorded as running."""
        running = StepRun.objects.filter(status=StepRunStatus.RUNNING)
        return running.filter(run__flow=self.row, name=step).exists()


@pytest.fixture
def roster(transactional_db, tmp_path, settings) -> Roster:
    """Store flow ``roster`` with this test's gates (both closed) and its students BEFORE."""
    settings.ADMINFLOW = {"STALE_AFTER": STALE_AFTER}
    step_gate, store_gate = tmp_path / "step-gate", tmp_path / "store-gate"
    row = Flow.objects.create(name=NAME, spec=SPEC, config=roster_config(step_gate, store_gate))
    Student.objects.bulk_create(
        Student(netid=netid, name=name, section=section) for netid, name, section in BEFORE
    )
    return Roster(row, step_gate, store_gate)


@pytest.fixture
def processes(transactional_db, tmp_path) -> Iterator[Processes]:
    """Return the test's processes (none yet); kill those still running after the test."""
    with processes_for_test(tmp_path, SETTINGS) as started:
        yield started


@pytest.fixture
def postgresql(transactional_db) -> None:
    """Skip the test unless the suite runs on PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip(NEEDS_POSTGRESQL)


def beaten_since(run: FlowRun, since: datetime) -> bool:
    """Return whether ``run`` heartbeated after ``since``."""
    return FlowRun.objects.filter(pk=run.pk, heartbeat_at__gt=since).exists()


def runflow(*args: str) -> list[str]:
    """Return the command line of ``runflow`` for flow ``roster``."""
    return django_command("runflow", NAME, *args)
