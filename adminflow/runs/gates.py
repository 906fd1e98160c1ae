"""Gates: when a flow's runs must be planned and approved before they act.

A flow's ``plan_required`` (:class:`~adminflow.states.PlanPolicy`) makes
its runs *gated*: planned first, then applied at once if within the gate, or
left ``planned`` for approval (see :mod:`adminflow.runs.plans`).
"""

from __future__ import annotations

from ..engine import ConfiguredFlow, RunResult
from ..models import Flow
from ..states import PlanPolicy, RunPurpose
from .errors import NotOptedIn


def run_purpose(row: Flow, configured: ConfiguredFlow, debug: bool) -> RunPurpose:
    """Return what a run that acts is for: gated if its flow requires a plan (not in debug
    mode, which changes nothing); raise NotOptedIn if such a flow cannot be planned."""
    if row.plan_required == PlanPolicy.NEVER or debug:
        return RunPurpose.RUN
    check_plannable(configured)
    return RunPurpose.GATED


def check_plannable(configured: ConfiguredFlow) -> None:
    """Raise NotOptedIn, naming the steps, if ``configured`` cannot be planned."""
    refusal = configured.plan_refusal()
    if refusal is not None:
        raise NotOptedIn(refusal, configured.not_opted_in())


def gate_reason(flow: Flow, result: RunResult) -> str | None:
    """Return why a gated run of ``flow`` must wait for approval; None if it may act now."""
    if flow.plan_required == PlanPolicy.ALWAYS:
        return f"flow '{flow.name}' requires an approved plan for every run"
    if flow.plan_required != PlanPolicy.BLAST_RADIUS:
        return None
    reasons = []
    removed = sum(1 for entry in result.record_diff if entry["action"] == "removed")
    share = flow.plan_max_drop_share
    if share is not None and result.records_in and removed / result.records_in > share:
        reasons.append(
            f"it would remove {removed} of its {result.records_in} records "
            f"({removed / result.records_in:.0%}), more than the {share:.0%} allowed"
        )
    limit = flow.plan_max_intents
    if limit is not None and len(result.intents) > limit:
        reasons.append(
            f"it would carry out {len(result.intents)} outside actions, more than the "
            f"{limit} allowed"
        )
    if not reasons:
        return None
    return f"over the blast radius of flow '{flow.name}': {'; '.join(reasons)}"
