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
    PLANNED = RunStatus.PLANNED.value, _("Planned")
    """Finished as a plan: its intents and record diff await review; nothing was done.

    A finished status, so a plan waiting for approval does not block the flow.
    """


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


class RunPurpose(models.TextChoices):
    """What a run is for: act, make a plan, or apply one."""

    RUN = "run", _("Run")
    """A run that acts: its propagate steps do what they decide."""
    PLAN = "plan", _("Plan")
    """A plan someone asked for: it ends planned, for review."""
    GATED = "gated", _("Gated run")
    """A run of a flow that requires a plan: planned first; it acts only if its gate lets it."""
    APPLY = "apply", _("Apply")
    """Carries out an approved plan's intents and stores its record diff; plans nothing."""


class PlanState(models.TextChoices):
    """Where a plan is in its review; a run's status says how its execution went."""

    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    """Shown for a pending or approved plan past its ``expires_at``; never stored."""
    APPLIED = "applied", _("Applied")
    """An apply run was started for it: it cannot be applied again (a failed apply resumes)."""


class PlanPolicy(models.TextChoices):
    """When a flow's runs must be planned and approved before they act."""

    NEVER = "never", _("Never")
    ALWAYS = "always", _("Every run")
    BLAST_RADIUS = "blast_radius", _("When a run exceeds the blast radius")


class IntentOutcome(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


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
