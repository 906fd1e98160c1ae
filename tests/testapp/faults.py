"""The fault tests' flow: a roster of students that a test can hold at a gate, even mid-store.

Flow ``roster`` is data (a ``Flow`` row holding :data:`SPEC` and a config),
so that each fault test (tests/faults/) stores it with gate files of its
own and the ``runflow`` or ``db_worker`` process it starts builds the flow
from that row, with the steps registered here.

Record step ``enrol`` adds the configured students; update step ``wait``
(the browser tests' WaitForGate) waits at the step gate; update step
``stamp``, which depends on it, moves every student to the configured
section. The storer then stores the difference in one transaction: from
:data:`BEFORE`, two students changed and one added, which gives
:data:`AFTER`. Told to, it pauses at the store gate: ``mid-store`` right
after the transaction's first write, ``after-store`` right after it
committed. Before pausing it creates ``<gate>.reached``, so that a test
knows where the process is without looking into an open transaction.

A process started with :data:`HOLD` in its environment, ``<moment>:<gate>``,
is held at the gate at that moment of a run's life, before it started:
``queued`` right after it committed a run it queued (``runflow``),
``configure`` while configuring a run to execute it (a task worker, which
has taken the task and holds the run by then).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

import adminflow
from adminflow import AdminRecordStep, AdminUpdateStep
from adminflow.models import FlowRun
from adminflow.storage import DjangoRecordStorer

from .gated import wait_for_gate
from .models import Student

NAME = "roster"
BEFORE = [("ada", "Ada", "A"), ("grace", "Grace", "A")]
"""The students (netid, name, section) a test starts from."""
AFTER = [("ada", "Ada", "B"), ("alan", "Alan", "B"), ("grace", "Grace", "B")]
"""The students once a run of the flow stored its records."""
PAUSES = ("", "mid-store", "after-store")
WRITES = ("INSERT", "UPDATE", "DELETE")
HOLD = "ADMINFLOW_FAULTS_HOLD"
"""The environment variable that holds a fault process at a moment: ``<moment>:<gate>``."""
HOLD_SECONDS = 30.0


def held_at(moment: str) -> Path | None:
    """Return the gate this process is held at, at ``moment``; None if it is not held there."""
    name, _, gate = os.environ.get(HOLD, "").partition(":")
    return Path(gate) if name == moment and gate else None


def hold(moment: str) -> None:
    """Wait at the gate of ``moment``, if this process is held there, saying it got there."""
    gate = held_at(moment)
    if gate is not None:
        gate.with_name(f"{gate.name}.reached").touch()
        wait_for_gate(gate, HOLD_SECONDS)


@receiver(post_save, sender=FlowRun)
def hold_once_queued(sender: type, instance: FlowRun, created: bool, **kwargs: Any) -> None:
    if created and held_at("queued") is not None:
        transaction.on_commit(lambda: hold("queued"))


@adminflow.register_step
class PausingStudents(DjangoRecordStorer[Student]):
    description = "Students by netid, stored in one transaction that can pause at a gate."
    model = Student
    key_field = "netid"
    config_types = [
        ("pause", str, f"where storing waits at the gate: one of {PAUSES}", ""),
        ("gate", str, "the file whose creation lets storing go on", ""),
        ("timeout", float, "seconds to wait at the gate before failing", 30.0),
    ]

    def validate(self) -> None:
        if self.configs.pause not in PAUSES:
            raise ValueError(f"pause must be one of {PAUSES}, not {self.configs.pause!r}")
        hold("configure")

    def set_records(self, rec_list: list[Student], logger: Any, debug: bool = False) -> None:
        if self.configs.pause != "mid-store":
            super().set_records(rec_list, logger, debug)
            if self.configs.pause == "after-store":
                self.pause(logger)
            return
        paused = False

        def pause_after_first_write(execute, sql, params, many, context):
            nonlocal paused
            result = execute(sql, params, many, context)
            if not paused and connection.in_atomic_block and sql.lstrip().startswith(WRITES):
                paused = True
                self.pause(logger)
            return result

        with connection.execute_wrapper(pause_after_first_write):
            super().set_records(rec_list, logger, debug)

    def pause(self, logger: Any) -> None:
        gate = Path(self.configs.gate)
        logger(f"storing waits at {gate} ({self.configs.pause})")
        gate.with_name(f"{gate.name}.reached").touch()
        wait_for_gate(gate, self.configs.timeout)


@adminflow.register_step
class EnrolStudents(AdminRecordStep[Student]):
    description = "Add a student for each configured netid not on the roster yet."
    config_types = [("netids", list[str], "the netids of the students to add")]

    def new_records(
        self, curr_records: list[Student], logger: Any, set_metadata: Any, debug: bool = False
    ) -> list[Student]:
        known = {student.netid for student in curr_records}
        added = [
            Student(netid=netid, name=netid.title())
            for netid in self.configs.netids
            if netid not in known
        ]
        return [*curr_records, *added]


@adminflow.register_step
class StampSection(AdminUpdateStep[Student]):
    description = "Move every student to the configured section."
    config_types = [("section", str, "the section every student ends up in")]

    def update_records(
        self,
        records: list[tuple[Student, Any]],
        logger: Any,
        get_metadata: Any,
        set_metadata: Any,
        debug: bool = False,
    ) -> None:
        for student, lock in records:
            with lock:
                student.section = self.configs.section


SPEC = {
    "name": NAME,
    "description": "Enrol a student, wait at a gate, move everyone to a section, store.",
    "storer": {"type": "PausingStudents", "name": "students"},
    "steps": [
        {"name": "enrol", "type": "EnrolStudents", "kind": "record"},
        {"name": "wait", "type": "WaitForGate", "kind": "update"},
        {"name": "stamp", "type": "StampSection", "kind": "update", "depends_on": ["wait"]},
    ],
}


def roster_config(step_gate: Path, store_gate: Path, pause: str = "") -> dict[str, Any]:
    """Return the flow's config: its gates, and where storing pauses."""
    return {
        "num_threads": 1,
        "students": {"pause": pause, "gate": str(store_gate), "timeout": 30.0},
        "enrol": {"netids": ["alan"]},
        "wait": {"gate": str(step_gate), "timeout": 30.0},
        "stamp": {"section": "B"},
    }


def students() -> list[tuple[str, str, str]]:
    """Return every student as (netid, name, section), by netid."""
    return list(Student.objects.order_by("netid").values_list("netid", "name", "section"))
