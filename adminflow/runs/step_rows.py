"""A run's step rows as the run starts them: one builder for the run service and the run page.

The service saves them when a worker starts the run; the run page shows the
same rows, unsaved, while the run is still queued, so both say the same
thing about which steps will run and which are excluded.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine import StepMode
from ..engine.configured import StepEntry
from ..models import FlowRun, StepRun
from ..states import StepRunStatus


def step_rows(
    run: FlowRun,
    steps: Mapping[str, StepEntry],
    time_limits: Mapping[str, float | None] | None = None,
) -> list[StepRun]:
    """Return ``run``'s unsaved step rows for the flow's ``steps``, in flow order.

    Each step's mode is the one the run was queued with (``run.step_modes``);
    an excluded step's row is ``excluded`` from the start, every other one
    ``pending``.
    """
    rows = []
    for position, (name, entry) in enumerate(steps.items()):
        mode = run.step_modes.get(name, str(StepMode.INCLUDE))
        rows.append(
            StepRun(
                run=run,
                name=name,
                kind=str(entry.kind),
                mode=mode,
                status=StepRunStatus.EXCLUDED
                if mode == StepMode.EXCLUDE
                else StepRunStatus.PENDING,
                depends_on=list(entry.depends_on),
                position=position,
                time_limit=(time_limits or {}).get(name),
            )
        )
    return rows
