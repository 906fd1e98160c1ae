"""Two ``runflow`` processes for one flow, released at the same instant: exactly one runs.

The database decides (a partial unique constraint on a flow's active run),
so the loser exits 3 naming the winner's run, whichever process that is.
The winner's run waits at the step gate until the loser has exited, so the
loser cannot find the flow free again. A few rounds, each with its own pair
of processes, make it a race rather than one lucky order.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from adminflow.models import FlowRun
from adminflow.states import FlowRunStatus
from tests.processes import Processes, released_command
from tests.testapp.faults import AFTER, NAME, roster_config, students

from .conftest import Roster

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROUNDS = 5
ALREADY_RUNNING = 3


def race(processes: Processes, roster: Roster, names: list[str]) -> dict[str, int]:
    """Start ``runflow`` as each of ``names``, release them together, let the winner's run
    through once the other has exited, and return each one's exit code."""
    gate = roster.step_gate.with_name(f"gate-{names[0]}")
    roster.row.config = roster_config(gate, roster.store_gate)
    roster.row.save(update_fields=["config"])
    for name in names:
        processes.start(name, released_command("runflow", NAME), stdin=subprocess.PIPE)

    processes.release(names)
    processes.wait_until(
        lambda: any(processes.started[name].poll() is not None for name in names),
        f"one of {', '.join(names)} to exit",
    )
    gate.touch()
    return {name: processes.wait(name) for name in names}


def test_two_runflows_released_together_run_the_flow_once(roster: Roster, processes):
    winners = []
    for round_number in range(ROUNDS):
        # Which process gets its line first alternates, so that neither is always ahead.
        pair = [f"runflow-{round_number}-{side}" for side in ("a", "b")]
        runs_before = FlowRun.objects.count()

        codes = race(processes, roster, pair if round_number % 2 else pair[::-1])

        assert FlowRun.objects.count() == runs_before + 1, processes.log()
        run = FlowRun.objects.latest("pk")
        assert run.status == FlowRunStatus.SUCCEEDED, processes.log()
        assert sorted(codes.values()) == [0, ALREADY_RUNNING], processes.log()
        loser = next(name for name, code in codes.items() if code == ALREADY_RUNNING)
        assert re.search(
            rf"CommandError: flow '{NAME}' is already running: run {run.pk} is "
            r"(queued|running); wait for it to finish or cancel it first\n$",
            processes.output(loser),
        ), processes.output(loser)
        winners.append(next(name for name, code in codes.items() if code == 0))

    assert students() == AFTER
    print(f"winners: {', '.join(winners)}")
