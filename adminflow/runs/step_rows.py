"""A run's step rows as the run starts them: one builder for the run service and the run page.

The service saves them when a worker starts the run; the run page shows the
same rows, unsaved, while the run is still queued, so both say the same
thing about which steps will run and which are excluded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import StepMode
from ..engine.configured import StepEntry
from ..models import FlowRun, StepRun
from ..states import StepRunStatus

StepRowValues = dict[str, Any]
"""A step row not saved yet: its value for every column but the key, by attribute name."""


def step_row_values(
    run: FlowRun,
    steps: Mapping[str, StepEntry],
    time_limits: Mapping[str, float | None] | None = None,
) -> list[StepRowValues]:
    """Return ``run``'s new step rows for the flow's ``steps`` as values, in flow order.

    The run service inserts them as they are: a model instance per step
    cost a 1000-step run as much as the steps took to run. Each step's mode
    is the one the run was queued with (``run.step_modes``); an excluded
    step's row is ``excluded`` from the start, every other one ``pending``.
    """
    limits = time_limits or {}
    # Every other column as the model defaults it: a new row's values are known here.
    defaults = {
        field.attname: field.get_default()
        for field in StepRun._meta.concrete_fields
        if not field.primary_key
    }
    run_id, modes, include = run.pk, run.step_modes, str(StepMode.INCLUDE)
    rows = []
    for position, (name, entry) in enumerate(steps.items()):
        mode = modes.get(name, include)
        rows.append(
            {
                **defaults,
                "run_id": run_id,
                "name": name,
                "kind": str(entry.kind),
                "mode": mode,
                "status": StepRunStatus.EXCLUDED
                if mode == StepMode.EXCLUDE
                else StepRunStatus.PENDING,
                "depends_on": list(entry.depends_on),
                "position": position,
                "time_limit": limits.get(name),
            }
        )
    return rows


def step_rows(
    run: FlowRun,
    steps: Mapping[str, StepEntry],
    time_limits: Mapping[str, float | None] | None = None,
) -> list[StepRun]:
    """Return ``run``'s unsaved step rows for the flow's ``steps``, in flow order, as
    :func:`step_row_values` says them."""
    rows = []
    for values in step_row_values(run, steps, time_limits):
        row = StepRun(**values)
        row.run = run
        rows.append(row)
    return rows
