"""Run and step statuses, their groups and their legal transitions, declared once.

Models, services, admin actions and templates all ask this module, so "can
this run be cancelled?" has one answer everywhere.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .engine import AdminflowError, RunStatus, StepStatus


class FlowRunStatus(models.TextChoices):
    """A recorded run's status: the engine's ``RunStatus`` values, and ``queued`` before them."""

    QUEUED = "queued", _("Queued")
    """Created, waiting for a worker (or the command) to pick it up; the engine never sees it."""
    RUNNING = RunStatus.RUNNING.value, _("Running")
    """A worker is executing it and heartbeating."""
    SUCCEEDED = RunStatus.SUCCEEDED.value, _("Succeeded")
    """Every included step succeeded; records stored."""
    FAILED = RunStatus.FAILED.value, _("Failed")
    """A step, the storer or the worker failed."""
    CANCELLED = RunStatus.CANCELLED.value, _("Cancelled")
    """Stopped on request before every step had started."""


class StepRunStatus(models.TextChoices):
    """A recorded step's status: the engine's ``StepStatus`` values, each with a label."""

    PENDING = StepStatus.PENDING.value, _("Pending")
    """Not started yet."""
    RUNNING = StepStatus.RUNNING.value, _("Running")
    """Its method is being called now."""
    SUCCEEDED = StepStatus.SUCCEEDED.value, _("Succeeded")
    """Its method returned."""
    FAILED = StepStatus.FAILED.value, _("Failed")
    """Its method raised; the error and traceback are kept."""
    UPSTREAM_FAILED = StepStatus.UPSTREAM_FAILED.value, _("Upstream failed")
    """A step it depends on failed, so it never started."""
    SKIPPED = StepStatus.SKIPPED.value, _("Skipped")
    """Never started: an earlier phase failed, or ``fail_fast`` stopped the run."""
    EXCLUDED = StepStatus.EXCLUDED.value, _("Excluded")
    """Its mode was ``exclude``."""
    CANCELLED = StepStatus.CANCELLED.value, _("Cancelled")
    """Never started because the run was cancelled."""


class Trigger(models.TextChoices):
    COMMAND = "command", _("Command")
    ADMIN = "admin", _("Admin")
    SCHEDULE = "schedule", _("Schedule")
    API = "api", _("API")


ACTIVE_RUN_STATUSES = frozenset({FlowRunStatus.QUEUED, FlowRunStatus.RUNNING})
FINISHED_RUN_STATUSES = frozenset(set(FlowRunStatus) - ACTIVE_RUN_STATUSES)

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    FlowRunStatus.QUEUED: frozenset(
        {FlowRunStatus.RUNNING, FlowRunStatus.CANCELLED, FlowRunStatus.FAILED}
    ),
    FlowRunStatus.RUNNING: frozenset(FINISHED_RUN_STATUSES),
    **{status: frozenset() for status in FINISHED_RUN_STATUSES},
}

_STEP_NEVER_STARTED = frozenset(
    {
        StepRunStatus.UPSTREAM_FAILED,
        StepRunStatus.SKIPPED,
        StepRunStatus.EXCLUDED,
        StepRunStatus.CANCELLED,
    }
)
FINISHED_STEP_STATUSES = _STEP_NEVER_STARTED | {StepRunStatus.SUCCEEDED, StepRunStatus.FAILED}
STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    StepRunStatus.PENDING: frozenset({StepRunStatus.RUNNING, *_STEP_NEVER_STARTED}),
    StepRunStatus.RUNNING: frozenset({StepRunStatus.SUCCEEDED, StepRunStatus.FAILED}),
    **{status: frozenset() for status in FINISHED_STEP_STATUSES},
}

# Which run statuses each admin action may act on.
CANCELLABLE = ACTIVE_RUN_STATUSES
RESUMABLE = frozenset({FlowRunStatus.FAILED})
RERUNNABLE = FINISHED_RUN_STATUSES


class IllegalTransition(AdminflowError):
    """Raise when a run or step is moved to a status its current one does not allow."""

    def __init__(self, what: str, current: str, new: str) -> None:
        super().__init__(f"{what} cannot go from '{current}' to '{new}'")


def check_transition(
    transitions: dict[str, frozenset[str]], what: str, current: str, new: str
) -> None:
    """Raise IllegalTransition unless ``current`` may become ``new``."""
    if new not in transitions[current]:
        raise IllegalTransition(what, current, new)
