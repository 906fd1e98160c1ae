"""Why the run service refuses a start, a resume or a re-run."""

from __future__ import annotations

from ..engine import AdminflowError


class FlowAlreadyRunning(AdminflowError):
    """Raise when a flow already has a queued or running run."""

    def __init__(self, flow: str, run_id: int | None, status: str) -> None:
        self.flow = flow
        self.run_id = run_id
        self.status = status
        self.active = (
            f"run {run_id} is {status}"
            if run_id is not None
            else "another run started at the same time"
        )
        super().__init__(
            f"flow '{flow}' is already running: {self.active}; "
            "wait for it to finish or cancel it first"
        )


class FlowDisabled(AdminflowError):
    """Raise when a run is asked of a flow whose row is disabled."""


class RunNotResumable(AdminflowError):
    """Raise when a run that did not fail is asked to be resumed."""


class PlanError(AdminflowError):
    """Base of why the run service refuses to plan, approve, reject or apply."""


class NotOptedIn(PlanError):
    """Raise when a flow is to be planned but some of its propagate steps plan no intents.

    ``steps`` names them (empty when only the storer cannot plan a store).
    """

    def __init__(self, message: str, steps: list[str]) -> None:
        self.steps = steps
        super().__init__(message)


class NotAPlan(PlanError):
    """Raise when a plan's action is asked of a run that made no plan."""


class NotAnApprover(PlanError):
    """Raise when a user without the ``adminflow.approve_flowrun`` permission approves, rejects or applies."""


class SecondPersonRequired(PlanError):
    """Raise when the user who planned a two-person flow's run approves it (or nobody is named)."""


class PlanNotPending(PlanError):
    """Raise when a plan that is no longer awaiting approval is approved or rejected."""


class UnknownSelection(PlanError):
    """Raise when intents or records to deselect are not the plan's."""


class ApplyRefused(PlanError):
    """Base of why a plan is not applied; nothing was done or changed."""


class PlanNotApproved(ApplyRefused):
    """Raise when a plan still awaiting approval is applied."""


class PlanRejected(ApplyRefused):
    """Raise when a rejected plan is applied."""


class PlanExpired(ApplyRefused):
    """Raise when a plan past its ``expires_at`` is approved or applied."""


class PlanAlreadyApplied(ApplyRefused):
    """Raise when a plan is applied a second time (a failed apply is resumed instead)."""


class PlanStale(ApplyRefused):
    """Raise when records the plan touches changed since it was planned; ``keys`` names them."""

    def __init__(self, message: str, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(message)
