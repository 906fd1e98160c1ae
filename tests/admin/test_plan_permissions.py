"""Who may approve, reject and apply a plan: anonymous users, staff without
``approve_flowrun``, the planner on a two-person flow, an approver. A POST that is
refused changes nothing: not the plan, not its selection, no run is queued."""

from __future__ import annotations

import pytest
from django.test import Client

from adminflow.states import PlanState
from tests.plan_helpers import set_up_welcome

from .flow_helpers import messages_of
from .plan_helpers import APPROVE, VIEW, client_for, made_plan, plan_state, plan_url

pytestmark = pytest.mark.django_db

BUTTONS = ("approve", "reject", "apply")


@pytest.fixture
def plans(tmp_path):
    """Return a plan awaiting approval and an approved one, of flow ``welcome``."""
    welcome = set_up_welcome(tmp_path).row
    return {
        "approve": made_plan(flow=welcome),
        "reject": made_plan(flow=welcome),
        "apply": made_plan(flow=welcome, records=0, state=PlanState.APPROVED),
    }


def post(client: Client, plans, button: str):
    plan = plans[button]
    data = {"shown_intent": [plan.intents.first().pk]} if button == "approve" else {}
    return client.post(plan_url(plan, button), data)


@pytest.mark.parametrize("button", BUTTONS)
def test_anonymous_users_are_sent_to_log_in_and_change_nothing(
    client: Client, plans, button: str
) -> None:
    before = plan_state(plans[button])

    response = post(client, plans, button)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert plan_state(plans[button]) == before
    assert client.get(plan_url(plans[button]))["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("button", BUTTONS)
def test_staff_without_approve_flowrun_see_the_plan_but_cannot_act_on_it(
    plans, button: str
) -> None:
    client, _user = client_for(VIEW)
    before = plan_state(plans[button])

    response = post(client, plans, button)

    assert response.status_code == 403
    assert plan_state(plans[button]) == before
    page = client.get(plan_url(plans[button])).content.decode()
    for marker in ("data-approve", "data-reject", "data-apply", 'name="intent"'):
        assert marker not in page


def test_the_planner_on_a_two_person_flow_cannot_approve() -> None:
    client, planner = client_for(VIEW, APPROVE)
    plan = made_plan(planned_by=planner, two_person=True)
    before = plan_state(plan)

    response = client.post(plan_url(plan, "approve"), {"shown_intent": [plan.intents.first().pk]})

    assert plan_state(plan) == before
    (said,) = messages_of(response)
    assert said.startswith("Nothing was done: flow ")
    assert f"needs a second person to approve: {planner} planned run {plan.run_id}" in said


def test_another_approver_approves_a_two_person_flows_plan_deselecting_what_they_unticked() -> None:
    _client, planner = client_for(VIEW, APPROVE)
    plan = made_plan(intents=4, planned_by=planner, two_person=True)
    client, approver = client_for(VIEW, APPROVE)
    first, *others = plan.intents.order_by("position")
    kept_record, left_record = plan.records.order_by("position")

    response = client.post(
        plan_url(plan, "approve"),
        {
            "shown_intent": [first.pk, others[0].pk],
            "intent": [others[0].pk],
            "shown_record": [kept_record.pk, left_record.pk],
            "record": [kept_record.pk],
        },
    )

    plan.refresh_from_db()
    assert (plan.state, plan.approved_by) == (PlanState.APPROVED, approver)
    assert list(plan.intents.filter(selected=False)) == [first]
    # first is about record s0 (kept_record): leaving it out leaves its change out too.
    assert list(plan.records.filter(selected=True)) == []
    (said,) = messages_of(response)
    assert said == (
        f"The plan of run #{plan.run_id} is approved: 3 of its intents will be carried out "
        "when it is applied."
    )


def test_ids_that_are_not_the_plans_are_refused_and_nothing_is_approved() -> None:
    client, _user = client_for(VIEW, APPROVE)
    plan, other = made_plan(), made_plan()
    before = plan_state(plan), plan_state(other)

    response = client.post(
        plan_url(plan, "approve"), {"shown_intent": [other.intents.first().pk, "x"]}
    )

    assert (plan_state(plan), plan_state(other)) == before
    assert "has no intents with ids" in messages_of(response)[0]
