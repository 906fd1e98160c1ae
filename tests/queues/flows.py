"""Flows the workers can build, stored as data, and the runs they execute."""

from __future__ import annotations

import time
from collections.abc import Iterable

from adminflow.models import Flow, FlowRun, RunLog
from adminflow.states import FINISHED_RUN_STATUSES, FlowRunStatus

from .steps import STEPS, sleepy_spec
from .workers import Workers

RUN_WAIT_SECONDS = 60


def create_sleepy_flows(count: int, lines: int, pause: float) -> list[str]:
    """Store ``count`` flows of :func:`sleepy_spec` as data; return their names."""
    names = [f"sleepy-{number:02}" for number in range(1, count + 1)]
    Flow.objects.bulk_create([Flow(name=name, spec=sleepy_spec(lines, pause)) for name in names])
    return names


def wait_for_runs(run_ids: Iterable[int], workers: Workers) -> list[FlowRun]:
    """Return the runs, in id order, once all have finished; raise AssertionError, with
    the workers' output, if a worker died or a run is still active after RUN_WAIT_SECONDS."""
    runs = FlowRun.objects.filter(pk__in=set(run_ids))
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while runs.exclude(status__in=FINISHED_RUN_STATUSES).exists():
        workers.check_alive()
        if time.monotonic() > deadline:
            statuses = dict(runs.values_list("pk", "status"))
            raise AssertionError(f"runs still active: {statuses}\n{workers.log()}")
        time.sleep(0.05)
    return list(runs.select_related("flow").order_by("pk"))


def step_lines(run: FlowRun) -> dict[str, list[str]]:
    """Return the lines each step of a sleepy ``run`` logged, in order, without the lines
    saying it started and ended."""
    lines = RunLog.objects.filter(run=run).order_by("pk").values_list("message", flat=True)
    return {
        step: [
            line
            for line in lines.filter(step=step)
            if not line.startswith((f"{step} (", f"{step}: "))
        ]
        for step in STEPS
    }


def assert_sleepy_run_complete(run: FlowRun, lines: int) -> None:
    """Assert that ``run`` succeeded, each step too, and every line each step logged is stored."""
    assert run.status == FlowRunStatus.SUCCEEDED, (run.pk, run.status, run.error)
    assert dict(run.steps.values_list("name", "status")) == dict.fromkeys(STEPS, "succeeded")
    expected = [f"line {number} of {lines}" for number in range(1, lines + 1)]
    assert step_lines(run) == dict.fromkeys(STEPS, expected)
