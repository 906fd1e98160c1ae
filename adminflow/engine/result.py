"""What a run reports: statuses and the result objects ``run()`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .config import StepMode
from .intents import Intent
from .steps import StepKind


class RunStatus(StrEnum):
    """Where a whole run is, or how it ended.

    The Django layer's ``FlowRunStatus`` takes its values from here and adds
    ``queued``, a run waiting for a worker, which the engine never sees.
    """

    RUNNING = "running"
    """Started and not ended yet."""
    SUCCEEDED = "succeeded"
    """Every included step succeeded and the records were stored."""
    FAILED = "failed"
    """A step, the storer or the engine failed."""
    CANCELLED = "cancelled"
    """The cancel event stopped the run before every step had started."""
    PLANNED = "planned"
    """A plan: the propagate steps declared their intents and nothing was done or stored."""


class StepStatus(StrEnum):
    """Where one step is, or how it ended; the Django layer's ``StepRunStatus`` has the same."""

    PENDING = "pending"
    """Not started yet."""
    RUNNING = "running"
    """Its method is being called now."""
    SUCCEEDED = "succeeded"
    """Its method returned."""
    FAILED = "failed"
    """Its method raised; the error and traceback are kept."""
    UPSTREAM_FAILED = "upstream_failed"
    """A step it depends on failed, so it never started."""
    SKIPPED = "skipped"
    """Never started: an earlier phase failed, or ``fail_fast`` stopped the run."""
    EXCLUDED = "excluded"
    """Its mode was ``exclude``."""
    CANCELLED = "cancelled"
    """Never started because the run was cancelled."""

    @property
    def is_finished(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)


@dataclass
class StepResult:
    """One step's part in one run."""

    name: str
    kind: StepKind
    mode: StepMode
    depends_on: tuple[str, ...] = ()
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    """Seconds the step's method ran, from a monotonic clock."""
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    """Calls of the step's method made: more than 1 once it was retried."""
    time_limit: float | None = None
    """Seconds the step should take; None for no limit."""
    overdue: bool = False
    """It ran past its time limit (and went on running)."""


@dataclass
class RunResult:
    """What ``AdminFlow.run()`` returns: enough to report or record the run."""

    flow: str
    status: RunStatus
    steps: dict[str, StepResult]
    records_in: int = 0
    records_out: int = 0
    stored: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float = 0.0
    error: str | None = None
    """Why the run failed or was cancelled, in one line."""
    traceback: str | None = None
    timed_out: bool = False
    """The run's time limit passed, so it was cancelled (and counts as failed)."""
    storer_report: list[str] = field(default_factory=list)
    """What the storer logged while storing: in debug mode, what it would have written."""
    intents: list[Intent] = field(default_factory=list)
    """A plan's intents, in step order (empty unless ``status`` is planned)."""
    record_diff: list[dict[str, Any]] = field(default_factory=list)
    """A plan's record diff, as the storer's ``plan_store`` gave it."""

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def steps_with(self, *statuses: StepStatus) -> list[StepResult]:
        """Return the steps whose status is one of ``statuses``, in flow order."""
        return [step for step in self.steps.values() if step.status in statuses]
