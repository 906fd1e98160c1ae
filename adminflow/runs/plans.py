"""Plan, approve, apply: a reviewed run does exactly what was reviewed.

The cycle, each step a function here (the admin and ``runflow`` call only these):

1. :func:`plan_run` queues a *planning* run. It runs the record and update
   phases, asks each propagate step for its intents (``plan_records``) and the
   storer for its record diff, writes neither, and ends ``planned`` with a
   :class:`~adminflow.models.Plan` awaiting approval. ``planned`` is a finished
   status: a plan waiting for approval does not keep the flow's other runs out.
2. :func:`approve_plan` (optionally deselecting intents and records) or
   :func:`reject_plan`, by a user with the ``adminflow.approve_flowrun``
   permission; on a two-person flow not the user who planned.
3. :func:`apply_plan` queues an *apply* run, linked to the plan, which checks
   that every record the plan touches is as it was when planned, then
   carries out exactly the selected intents (``carry_out``) and stores exactly
   the selected record diff: no step plans again. Each intent's outcome is
   written as soon as it is known.
4. :func:`resume_apply` (``resume_run`` of a failed apply) carries out only the
   intents not done yet, and stores what the failed apply held back.

Refusals change nothing and say why, each its own class (see
:mod:`adminflow.runs.errors`): NotOptedIn, NotAnApprover, SecondPersonRequired,
PlanNotPending, PlanNotApproved, PlanRejected, PlanExpired, PlanAlreadyApplied,
PlanStale (naming the changed records). Plans expire
``ADMINFLOW["PLAN_EXPIRES_AFTER"]`` seconds after they were made (24 hours).

Gates: a flow may require a plan for every run, or only for a run over its
blast radius (``Flow.plan_required``). Such a run is planned first
(``RunPurpose.GATED``); :func:`settle_gated` then applies it at once if it is
within the gate, or leaves it ``planned`` and notifies the flow's approvers:
the flow's notify list if it has one, else every active user with an email
who may approve (``adminflow.approve_flowrun``, superusers included).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..engine import FlowObserver
from ..models import ConfigSource, Flow, FlowRun, Plan
from ..notifications import notify_plan_awaits_approval
from ..states import FlowRunStatus, PlanState, RunPurpose, Trigger
from ..storage import bind_storer
from .config import build_flow, config_of_run, configure, configure_flow, get_flow_row
from .errors import (
    NotAnApprover,
    NotAPlan,
    PlanAlreadyApplied,
    PlanError,
    PlanExpired,
    PlanNotApproved,
    PlanNotPending,
    PlanRejected,
    RunNotResumable,
    SecondPersonRequired,
    UnknownSelection,
)
from .gates import check_plannable
from .metadata import metadata_from_json
from .plan_rows import apply_modes, records_to_check, stale_refusal
from .service import Executor, _check_enabled, _queue, execute_run

APPROVE_PERMISSION = "adminflow.approve_flowrun"


def plan_run(
    flow: str | Flow,
    *,
    trigger: str,
    user: Any = None,
    config: Mapping[str, Any] | None = None,
    modes: Mapping[str, str] | None = None,
    num_threads: int | None = None,
    execute: Executor | None = None,
) -> FlowRun:
    """Queue a planning run of ``flow`` (a name or a row) and return it; see :func:`start_run`.

    Raise NotOptedIn, naming the steps, before writing anything if a
    propagate step that would run does not plan intents (or the storer cannot
    plan a store), and what ``start_run`` raises.
    """
    row = flow if isinstance(flow, Flow) else get_flow_row(flow)
    _check_enabled(row)
    configured = configure_flow(row, config=config, modes=modes, num_threads=num_threads)
    check_plannable(configured)
    return _queue(
        row,
        configured,
        trigger,
        user,
        debug=False,
        execute=execute,
        config_source=ConfigSource.FLOW if config is None else ConfigSource.GIVEN,
        purpose=RunPurpose.PLAN,
    )


def plan_of(run: FlowRun) -> Plan:
    """Return ``run``'s plan; raise NotAPlan if it made none."""
    try:
        return Plan.objects.select_related("run__flow").get(run=run)
    except Plan.DoesNotExist:
        raise NotAPlan(
            f"run {run.pk} of flow '{run.flow.name}' is {run.status} and made no plan"
        ) from None


def _check_approver(plan: Plan, user: Any, what: str) -> None:
    if user is not None and not user.has_perm(APPROVE_PERMISSION):
        raise NotAnApprover(
            f"{user} may not {what} plans: that needs the '{APPROVE_PERMISSION}' permission"
        )


def _check_open(plan: Plan, what: str) -> None:
    state = plan.state_at(timezone.now())
    if state == PlanState.EXPIRED:
        raise PlanExpired(
            f"the plan of run {plan.run_id} expired at {plan.expires_at:%Y-%m-%d %H:%M %Z}; "
            "plan again"
        )
    if state != PlanState.PENDING:
        raise PlanNotPending(
            f"the plan of run {plan.run_id} is {plan.get_state_display().lower()}; "
            f"only a plan awaiting approval can be {what}"
        )


def approve_plan(
    run: FlowRun,
    user: Any,
    *,
    deselected_intents: Collection[int] = (),
    deselected_records: Collection[int] = (),
) -> Plan:
    """Approve ``run``'s plan as ``user``, without the intents and records deselected (by id).

    Deselecting an intent also deselects the diff entry of its record: a
    record is never stored claiming what was not done. Raise NotAPlan,
    NotAnApprover, SecondPersonRequired (on a two-person flow, for the user
    who planned, or for no user), PlanExpired, PlanNotPending or
    UnknownSelection, changing nothing.
    """
    plan = plan_of(run)
    check_approval(plan, user)
    intents = plan.intents.filter(pk__in=deselected_intents)
    records = plan.records.filter(pk__in=deselected_records)
    _check_selection(plan, "intents", deselected_intents, intents)
    _check_selection(plan, "records", deselected_records, records)
    with transaction.atomic():
        approved = Plan.objects.filter(pk=plan.pk, state=PlanState.PENDING).update(
            state=PlanState.APPROVED, approved_by=user, approved_at=timezone.now()
        )
        if not approved:
            plan.refresh_from_db()
            _check_open(plan, "approved")
        keys = set(intents.exclude(key="").values_list("key", flat=True))
        intents.update(selected=False)
        plan.records.filter(Q(pk__in=deselected_records) | Q(key__in=keys)).update(selected=False)
    plan.refresh_from_db()
    return plan


def check_approval(plan: Plan, user: Any) -> None:
    """Raise why ``user`` may not approve ``plan`` now; return if they may."""
    _check_approver(plan, user, "approve")
    if plan.requires_second_person and (
        user is None or (plan.planned_by_id is not None and plan.planned_by_id == user.pk)
    ):
        raise SecondPersonRequired(
            f"flow '{plan.run.flow.name}' needs a second person to approve: "
            + ("name the approving user" if user is None else f"{user} planned run {plan.run_id}")
        )
    _check_open(plan, "approved")


def approval_refusal(plan: Plan, user: Any) -> str | None:
    """Return why ``user`` may not approve ``plan`` now, in words; None if they may."""
    try:
        check_approval(plan, user)
    except PlanError as exc:
        return str(exc)
    return None


def apply_refusal(plan: Plan) -> str | None:
    """Return why ``plan`` may not be applied now, short of its records; None if it may.

    Whether its records are still as planned is known only by loading them,
    which :func:`apply_plan` does.
    """
    try:
        check_applicable(plan)
    except PlanError as exc:
        return str(exc)
    return None


def _check_selection(plan: Plan, what: str, ids: Collection[int], found: Any) -> None:
    unknown = sorted(set(ids) - set(found.values_list("pk", flat=True)))
    if unknown:
        raise UnknownSelection(
            f"the plan of run {plan.run_id} has no {what} with ids {', '.join(map(str, unknown))}"
        )


def reject_plan(run: FlowRun, user: Any) -> Plan:
    """Reject ``run``'s plan: it can never be applied. Raise as :func:`approve_plan` does."""
    plan = plan_of(run)
    _check_approver(plan, user, "reject")
    state = plan.state_at(timezone.now())
    if state not in (PlanState.PENDING, PlanState.APPROVED):
        raise PlanNotPending(
            f"the plan of run {plan.run_id} is {PlanState(state).label.lower()}; "
            "only a plan not yet applied can be rejected"
        )
    rejected = Plan.objects.filter(
        pk=plan.pk, state__in=[PlanState.PENDING, PlanState.APPROVED]
    ).update(state=PlanState.REJECTED, rejected_by=user, rejected_at=timezone.now())
    plan.refresh_from_db()
    if not rejected:
        raise PlanNotPending(f"the plan of run {plan.run_id} is {plan.state}")
    return plan


def check_applicable(plan: Plan) -> None:
    """Raise why ``plan`` may not be applied now; return if it may."""
    state = plan.state_at(timezone.now())
    name = f"the plan of run {plan.run_id}"
    if state == PlanState.APPLIED or plan.applied_by_run_id is not None:
        raise PlanAlreadyApplied(
            f"{name} was applied by run {plan.applied_by_run_id}; a failed apply is resumed"
        )
    if state == PlanState.REJECTED:
        raise PlanRejected(f"{name} was rejected; it can never be applied")
    if state == PlanState.EXPIRED:
        raise PlanExpired(f"{name} expired at {plan.expires_at:%Y-%m-%d %H:%M %Z}; plan again")
    if state != PlanState.APPROVED:
        raise PlanNotApproved(f"{name} awaits approval; approve it before applying it")


def apply_plan(
    run: FlowRun,
    user: Any = None,
    *,
    trigger: str = Trigger.ADMIN,
    execute: Executor | None = None,
) -> FlowRun:
    """Queue the apply of ``run``'s approved plan and return the apply run.

    Refuse (PlanNotApproved, PlanRejected, PlanExpired, PlanAlreadyApplied,
    PlanStale naming the records, NotAnApprover) before changing anything.
    The apply run checks the records again when it starts: a worker may take
    it later. ``execute`` is as for :func:`start_run`.
    """
    plan = plan_of(run)
    _check_approver(plan, user, "apply")
    check_applicable(plan)
    return _queue_apply(plan, user, trigger, execute, first=True)


def resume_apply(
    run: FlowRun, *, user: Any = None, trigger: str = Trigger.ADMIN, execute: Executor | None = None
) -> FlowRun:
    """Queue a run that carries out the intents a failed apply ``run`` did not, and return it.

    The records still to be stored, and those the remaining intents are about,
    are checked again; an expired plan may still be resumed, as it was
    approved and partly carried out. Raise RunNotResumable unless ``run`` is
    a failed apply, and PlanStale.
    """
    if run.purpose != RunPurpose.APPLY or run.status != FlowRunStatus.FAILED:
        raise RunNotResumable(
            f"run {run.pk} of flow '{run.flow.name}' is {run.status}; only a failed apply "
            "can be resumed as an apply"
        )
    assert run.applies_plan is not None
    return _queue_apply(run.applies_plan, user, trigger, execute, first=False, resumed_from=run)


def _queue_apply(
    plan: Plan,
    user: Any,
    trigger: str,
    execute: Executor | None,
    *,
    first: bool,
    resumed_from: FlowRun | None = None,
) -> FlowRun:
    planned = plan.run
    row = planned.flow
    _check_enabled(row)
    flow = build_flow(row)
    config = config_of_run(flow, planned)
    configured = configure(flow, config, modes=apply_modes(plan, flow))
    check_plannable(configured)  # its spec may have changed since it was planned
    _check_fresh(plan, configured)
    with transaction.atomic():
        apply_run = _queue(
            row,
            configured,
            trigger,
            user,
            debug=False,
            execute=execute,
            config_source=ConfigSource.RUN,
            config_from=planned,
            resumed_from=resumed_from,
            metadata=metadata_from_json(planned.metadata),
            purpose=RunPurpose.APPLY,
            applies_plan=plan,
        )
        if first:
            # The one place a plan becomes applied: a second apply racing this one loses here.
            taken = Plan.objects.filter(
                pk=plan.pk, state=PlanState.APPROVED, applied_by_run__isnull=True
            ).update(
                state=PlanState.APPLIED,
                applied_by=user if getattr(user, "is_authenticated", False) else None,
                applied_by_run=apply_run,
            )
            if not taken:  # raising rolls the apply run back
                plan.refresh_from_db()
                check_applicable(plan)
                raise PlanAlreadyApplied(f"the plan of run {plan.run_id} was applied meanwhile")
    return apply_run


def _check_fresh(plan: Plan, configured: Any) -> None:
    """Raise PlanStale if records the plan touches changed since it was planned."""
    bind_storer(configured, None)
    storer = configured.storer
    storer.get_records(lambda message: None)
    stale = storer.stale_keys(records_to_check(plan))
    if stale:
        raise stale_refusal(plan, stale)


def settle_gated(run: FlowRun, *, observers: Iterable[FlowObserver] = ()) -> FlowRun | None:
    """Apply a gated run's plan at once if its gate let it; else notify the approvers.

    Return the apply run, executed here, or None if the plan awaits approval.
    """
    plan = plan_of(run)
    if plan.state != PlanState.APPROVED:
        notify_plan_awaits_approval(run, plan)
        return None
    apply_run = _queue_apply(plan, None, run.trigger, "here", first=True)
    return execute_run(apply_run, observers=observers, cancel_event=threading.Event())
