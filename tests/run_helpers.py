"""Flows and helpers shared by the run service and command tests.

Flows are built from the engine tests' step factories, registered for one
test and unregistered after it. :class:`WaitForLine` and :data:`STDIN_FLOW_SPEC`
are importable by dotted path, so a ``runflow`` subprocess can build the
flow from a ``Flow`` row's spec.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from adminflow import AdminFlow, AdminRecordStep, AdminUpdateStep, RecordStorer
from adminflow.compat import TASKS_MODULE
from adminflow.models import FlowRun
from adminflow.registry import flow_registry

from .engine.helpers import Trace, make_storer, propagate_step, record_step, tracing, update_step

DUMMY_BACKEND = f"{TASKS_MODULE}.backends.dummy.DummyBackend"
"""A Tasks backend that keeps what is sent to it, and runs nothing."""


@contextmanager
def registered_flows() -> Iterator[Any]:
    """Yield a ``register(flow)`` callable; every flow it registered is unregistered after."""
    names: list[str] = []

    def register(flow: AdminFlow, *, enabled: bool = True) -> AdminFlow:
        flow_registry.register(flow, enabled=enabled)
        names.append(flow.name)
        return flow

    try:
        yield register
    finally:
        for name in names:
            flow_registry.unregister(name)


def database_url() -> str:
    """Return the URL of this test's database, for a worker process that shares it."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def step_statuses(run: FlowRun) -> dict[str, str]:
    """Return each step of ``run`` by name, with its recorded status, in flow order."""
    return dict(run.steps.order_by("position").values_list("name", "status"))


def pipeline(name: str, trace: Trace, **config: Any) -> AdminFlow:
    """Return a flow over [1, 2, 3] with steps r (record), u1 -> u2 (update), p (propagate)."""
    flow = AdminFlow(
        name, "a pipeline under test", make_storer([1, 2, 3]), "records", default_config=config
    )
    flow.add_record_step("r", record_step(tracing(trace, "r")))
    flow.add_update_step("u1", update_step(tracing(trace, "u1")))
    flow.add_update_step("u2", update_step(tracing(trace, "u2")), depends_on=["u1"])
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    return flow


class LineStorer(RecordStorer):
    """Load no records and store none: the subprocess flow needs nothing more."""

    description = "keeps nothing"

    def get_records(self, logger: Any) -> list[Any]:
        return []

    def set_records(self, rec_list: list[Any], logger: Any) -> None:
        logger(f"stored {len(rec_list)} records")


class WaitForLine(AdminRecordStep):
    """Block until a line arrives on stdin: lets a test interrupt a run mid-step."""

    description = "wait for a line on stdin"

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        logger(f"got {sys.stdin.readline().strip()!r}")
        return curr_records


class Idle(AdminUpdateStep):
    description = "do nothing"

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        logger("idle")


STDIN_FLOW_SPEC = {
    "name": "wait-for-stdin",
    "description": "A record step that waits for a line on stdin, then an update step.",
    "storer": {"type": "tests.run_helpers.LineStorer", "name": "lines"},
    "steps": [
        {"name": "wait", "type": "tests.run_helpers.WaitForLine", "kind": "record"},
        {"name": "after", "type": "tests.run_helpers.Idle", "kind": "update"},
    ],
}


def command(name: str, *args: str) -> tuple[str, str, int]:
    """Run a management command; return its stdout, its stderr and the exit code it ends with."""
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=stdout, stderr=stderr)
    except CommandError as exc:
        # What BaseCommand.run_from_argv prints before exiting with the code.
        return stdout.getvalue(), f"{stderr.getvalue()}CommandError: {exc}\n", exc.returncode
    return stdout.getvalue(), stderr.getvalue(), 0


def runflow(*args: str) -> tuple[str, str, int]:
    return command("runflow", *args)
