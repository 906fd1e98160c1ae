"""A run's whole life, behind one door: the run service.

The admin, the commands and the scheduler change runs only through the names
exported here. Inside: ``service`` (start, execute, cancel, re-run, resume,
reap), ``status`` (the one helper every status change goes through),
``sending`` (to a Tasks backend), ``recording`` (a running run's steps, log
lines and heartbeats) with ``bulk_writes`` (its rows in one statement a
batch), ``step_rows`` (a run's step rows, for the service and the run page),
``config`` (the flow and config a run runs with), ``metadata`` (run metadata
as JSON), ``workers`` (which task workers were seen, and when), ``plans``
(plan, approve, reject, apply; see its docstring) with ``plan_rows`` (a plan's
rows, written and read back) and ``gates`` (when a run must be planned first).
"""

from .config import UnknownFlow
from .errors import (
    ApplyRefused,
    FlowAlreadyRunning,
    FlowDisabled,
    NotAnApprover,
    NotAPlan,
    NotOptedIn,
    PlanAlreadyApplied,
    PlanError,
    PlanExpired,
    PlanNotApproved,
    PlanNotPending,
    PlanRejected,
    PlanStale,
    RunNotResumable,
    SecondPersonRequired,
    UnknownSelection,
)
from .plans import (
    apply_plan,
    apply_refusal,
    approval_refusal,
    approve_plan,
    plan_of,
    plan_run,
    reject_plan,
    resume_apply,
)
from .sending import enqueue_run
from .service import (
    Executor,
    cancel_run,
    execute_run,
    hold_run,
    reap_stale_runs,
    rerun_run,
    resume_run,
    start_run,
    this_worker,
)

__all__ = [
    "ApplyRefused",
    "Executor",
    "FlowAlreadyRunning",
    "FlowDisabled",
    "NotAPlan",
    "NotAnApprover",
    "NotOptedIn",
    "PlanAlreadyApplied",
    "PlanError",
    "PlanExpired",
    "PlanNotApproved",
    "PlanNotPending",
    "PlanRejected",
    "PlanStale",
    "RunNotResumable",
    "SecondPersonRequired",
    "UnknownFlow",
    "UnknownSelection",
    "apply_plan",
    "apply_refusal",
    "approval_refusal",
    "approve_plan",
    "cancel_run",
    "enqueue_run",
    "execute_run",
    "hold_run",
    "plan_of",
    "plan_run",
    "reap_stale_runs",
    "reject_plan",
    "rerun_run",
    "resume_apply",
    "resume_run",
    "start_run",
    "this_worker",
]
