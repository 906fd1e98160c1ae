"""What ``runflow --plan``, ``--approve``, ``--reject`` and ``--apply`` do: plain functions.

Each calls one function of :mod:`adminflow.runs.plans`; the command turns
their refusals into exit codes (an ``ApplyRefused`` into 4, any other
``PlanError`` into 2), and they raise CommandError for the rest:

- 0: planned (``--plan``), approved, rejected, applied;
- 1: the planning or apply run failed (an apply that failed part way is
  resumed with ``--resume APPLY_RUN_ID``);
- 2: bad usage, an unknown run, a run without a plan, a flow that cannot be
  planned (each propagate step that plans no intents is named), a refused
  approval or rejection; nothing recorded or changed;
- 3: the flow is already running;
- 4: the apply was refused: not approved, rejected, expired, already
  applied, or records changed since the plan (named); nothing changed;
- 5: a run of a flow that requires a plan stopped as a plan awaiting
  approval; its approvers were notified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from adminflow.models import FlowRun, Plan
from adminflow.runs import (
    PlanError,
    apply_plan,
    approve_plan,
    plan_of,
    plan_run,
    reject_plan,
)
from adminflow.states import FlowRunStatus, IntentOutcome, PlanState, RunPurpose, Trigger

from .runflow import (
    FAILED,
    Console,
    RunOptions,
    execute_here,
    exit_unless_succeeded,
    find_run,
    usage_error,
)

REFUSED = 4
AWAITS_APPROVAL = 5


def find_user(username: str | None) -> Any:
    """Return the user named ``username`` (None for none); raise a usage error if unknown."""
    if username is None:
        return None
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username})
    found = user.first()
    if found is None:
        raise usage_error(f"no user named '{username}'")
    return found


def plan(flow: str, options: RunOptions, console: Console, *, username: str | None) -> None:
    """Plan ``flow`` here and print what it would do; exit 1 if the planning run failed."""
    arguments = options.config_arguments()
    if arguments.pop("debug"):
        raise usage_error("--plan changes nothing already; it cannot be combined with --debug")
    run = plan_run(
        flow, trigger=Trigger.COMMAND, user=find_user(username), execute="here", **arguments
    )
    run = execute_here(run, console)
    if run.status != FlowRunStatus.PLANNED:
        exit_unless_succeeded(run)
    write_plan(plan_of(run), console)


def write_plan(plan: Plan, console: Console) -> None:
    """Write a plan's counts, its intents' lines, and what to do next."""
    if console.verbosity == 0:
        console.stdout.write(str(plan.run_id))
        return
    records = dict.fromkeys(("added", "changed", "removed"), 0)
    for action in plan.records.values_list("action", flat=True):
        if action in records:
            records[action] += 1
    intents = list(plan.intents.values_list("step", "line"))
    for step, line in intents[:50] if console.verbosity < 2 else intents:
        console.stdout.write(f"  [{step}] {line}")
    if len(intents) > 50 and console.verbosity < 2:
        console.stdout.write(f"  ... and {len(intents) - 50} more (all of them with -v2)")
    counts = ", ".join(f"{n} {action}" for action, n in records.items())
    console.stdout.write(
        f"Plan of run {plan.run_id}: {len(intents)} intents; records {counts}. "
        f"{plan.reason[:1].upper()}{plan.reason[1:]}; expires {plan.expires_at:%Y-%m-%d %H:%M %Z}. "
        f"Approve with: runflow --approve {plan.run_id}"
    )


def approve(
    run_id: int,
    console: Console,
    *,
    username: str | None,
    deselected_intents: Sequence[int] = (),
    deselected_records: Sequence[int] = (),
) -> None:
    """Approve the plan of run ``run_id``; exit 2 with the reason if that is refused."""
    run = find_run(run_id)
    try:
        approved = approve_plan(
            run,
            find_user(username),
            deselected_intents=deselected_intents,
            deselected_records=deselected_records,
        )
    except PlanError as exc:  # an expired plan too: 4 is for a refused apply only
        raise usage_error(str(exc)) from None
    if console.verbosity:
        left = approved.intents.filter(selected=True).count()
        console.stdout.write(
            f"Plan of run {run.pk} approved: {left} intents selected. "
            f"Apply with: runflow --apply {run.pk}"
        )


def reject(run_id: int, console: Console, *, username: str | None) -> None:
    """Reject the plan of run ``run_id``; exit 2 with the reason if that is refused."""
    run = find_run(run_id)
    try:
        reject_plan(run, find_user(username))
    except PlanError as exc:
        raise usage_error(str(exc)) from None
    if console.verbosity:
        console.stdout.write(f"Plan of run {run.pk} rejected.")


def apply(run_id: int, console: Console, *, username: str | None) -> None:
    """Apply the plan of run ``run_id`` here; exit 4 if refused, 1 if the apply failed."""
    run = find_run(run_id)
    apply_run = apply_plan(run, find_user(username), trigger=Trigger.COMMAND, execute="here")
    finished = execute_here(apply_run, console)
    write_outcomes(finished, console)
    exit_unless_succeeded(finished)


def write_outcomes(run: FlowRun, console: Console) -> None:
    """Write how many of the plan's intents are done, failed and pending after an apply."""
    plan = run.applies_plan if console.verbosity else None
    if plan is None:
        return
    outcomes = dict.fromkeys(IntentOutcome.values, 0)
    intents = plan.intents.filter(selected=True)
    for outcome in intents.values_list("outcome", flat=True):
        outcomes[outcome] += 1
    shown = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
    console.stdout.write(f"Intents of the plan of run {plan.run_id}: {shown}")
    if run.status == FlowRunStatus.FAILED:
        console.stdout.write(f"Carry out the rest with: runflow --resume {run.pk}")


def finish_gated(run: FlowRun, console: Console) -> None:
    """Say how a run of a flow with a gate ended, with its exit code.

    Within its gate, the run's plan was applied at once: report that apply.
    Over it, the run stopped as a plan: exit 5.
    """
    if run.purpose != RunPurpose.GATED or run.status != FlowRunStatus.PLANNED:
        exit_unless_succeeded(run)
        return
    plan = plan_of(run)
    if plan.state == PlanState.APPLIED and plan.applied_by_run is not None:
        applied = plan.applied_by_run
        write_outcomes(applied, console)
        if applied.status != FlowRunStatus.SUCCEEDED:
            raise CommandError(
                f"run {run.pk} was within its gate; its apply, run {applied.pk}, "
                f"{applied.status}: {applied.error}",
                returncode=FAILED,
            )
        return
    write_plan(plan, console)
    raise CommandError(
        f"run {run.pk} of flow '{run.flow.name}' stopped as a plan awaiting approval: "
        f"{plan.reason}",
        returncode=AWAITS_APPROVAL,
    )
