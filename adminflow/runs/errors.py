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
