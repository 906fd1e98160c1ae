"""Per-flow access: which staff may see a flow, its runs and what its runs changed.

A flow's ``access_groups`` limits it to the staff in those groups (a TA
sees the reminders flow, not the grade upload); a flow with none is open to
all staff holding the model permissions; a superuser sees every flow. The
rule is written once, here, as a condition on a flow id, and every query of
flows, runs and record changes that a user sees applies it through the
managers' ``visible_to(user)``, so a page added later gets it by calling
that. Model permissions still decide what a user may do; this decides on
which flows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q


def visible_condition(user: Any, flow_id: str) -> Q:
    """Return the condition that the flow whose id is at ``flow_id`` is visible to ``user``.

    ``flow_id`` is a lookup from the queried model: ``"pk"`` for flows,
    ``"flow_id"`` for runs, ``"run__flow_id"`` for record changes. The
    condition is two ``EXISTS`` subqueries: no join, so no duplicate rows,
    and the same query count at any number of flows, groups or runs.
    """
    if getattr(user, "is_superuser", False):
        return Q()
    from .models import Flow  # the models' managers call this module

    grants = Flow.access_groups.through.objects.filter(flow_id=OuterRef(flow_id))
    open_to_all = Q(~Exists(grants))
    if not getattr(user, "is_authenticated", False):
        return open_to_all
    return open_to_all | Q(Exists(grants.filter(group__user=user.pk)))
