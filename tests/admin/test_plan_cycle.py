"""Plan, review, approve and apply a flow through the admin, each run executed by the Tasks
backend as a worker would (the suite's immediate backend, once the request's transaction
commits); and each refusal of an apply shown as the run service words it, nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adminflow.models import Flow, FlowRun, Plan
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, IntentOutcome, PlanState, RunPurpose
from tests.testapp.models import Student

from .flow_helpers import change_url, changelist_url, messages_of
from .plan_helpers import (
    APPROVE,
    RUN,
    VIEW,
    VIEW_FLOW,
    GreetStudents,
    client_for,
    flow_plan_url,
    plan_state,
    plan_url,
    review_flow,
)
from .run_helpers import run_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

EVERYTHING = (VIEW, VIEW_FLOW, RUN, APPROVE)


def students() -> list[tuple[str, str, str]]:
    return list(Student.objects.values_list("netid", "section", "github"))


def planned(row: Flow, client, django_capture_on_commit_callbacks) -> Plan:
    """Press the flow page's Plan button; return the plan its run made."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(flow_plan_url(row))
    run = FlowRun.objects.get(purpose=RunPurpose.PLAN)
    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    run.refresh_from_db()
    assert run.status == FlowRunStatus.PLANNED, run.error
    return run.plan


def test_a_flow_planned_reviewed_approved_and_applied_does_exactly_what_was_approved(
    django_capture_on_commit_callbacks,
) -> None:
    row = review_flow(fail_for=("grace",))
    client, user = client_for(*EVERYTHING)
    before = students()

    plan = planned(row, client, django_capture_on_commit_callbacks)

    # Nothing outside, no record written: only the plan.
    assert students() == before
    assert GreetStudents.sent == []
    run_page = client.get(run_url(plan.run)).content.decode()
    assert f'href="{plan_url(plan)}"' in run_page
    page = client.get(plan_url(plan))
    assert [(g.step, g.action, g.total) for g in page.context["groups"]] == [
        ("greet", "email", 3),
        ("greet", "invite", 3),
    ]
    assert {(r.key, r.action) for r in plan.records.all()} == {
        ("ada", "changed"),
        ("alan", "added"),
        ("grace", "changed"),
    }
    html = page.content.decode()
    assert "email alan: you are in section B" in html
    assert 'data-plan-state="pending"' in html

    # Approve without the invite of ada: her record is not stored either.
    invite_ada = plan.intents.get(action="invite", key="ada")
    shown = list(plan.intents.values_list("pk", flat=True))
    response = client.post(
        plan_url(plan, "approve"),
        {
            "shown_intent": shown,
            "intent": [pk for pk in shown if pk != invite_ada.pk],
            "shown_record": list(plan.records.values_list("pk", flat=True)),
            "record": list(plan.records.values_list("pk", flat=True)),
        },
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.state, plan.approved_by) == (PlanState.APPROVED, user)
    assert list(plan.intents.filter(selected=False)) == [invite_ada]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(plan_url(plan, "apply"))
    apply_run = FlowRun.objects.get(purpose=RunPurpose.APPLY)
    assert response["Location"] == run_url(apply_run)
    apply_run.refresh_from_db()
    # grace's email failed: the apply failed, and said so; the rest was carried out.
    assert apply_run.status == FlowRunStatus.FAILED
    assert sorted(GreetStudents.sent) == [
        "email ada",
        "email alan",
        "invite alan",
        "invite grace",
    ]
    outcomes = {(i.action, i.key): (i.outcome, i.error) for i in plan.intents.all()}
    assert outcomes[("email", "grace")] == (
        IntentOutcome.FAILED,
        "RuntimeError: the mailbox of grace is full",
    )
    assert outcomes[("invite", "ada")] == (IntentOutcome.PENDING, "")
    assert outcomes[("email", "alan")] == (IntentOutcome.DONE, "")

    page = client.get(plan_url(plan)).content.decode()
    assert 'data-plan-state="applied"' in page
    assert "the mailbox of grace is full" in page
    assert page.count('data-outcome="done"') == 4
    assert page.count('data-outcome="failed"') == 1
    apply_page = client.get(run_url(apply_run)).content.decode()
    assert f'href="{plan_url(plan)}"' in apply_page
    assert "applies the plan of run #" in apply_page


def test_the_flow_changelist_plans_the_selected_flows(django_capture_on_commit_callbacks) -> None:
    row = review_flow()
    client, _user = client_for(VIEW_FLOW, RUN)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist_url(),
            {"action": "plan_selected_flows", "_selected_action": [row.pk], "index": "0"},
        )

    run = FlowRun.objects.get()
    assert run.purpose == RunPurpose.PLAN
    (said,) = messages_of(response)
    assert said.startswith(
        f'Queued <a href="{run_url(run)}">run #{run.pk}</a> to plan flow “review”'
    )


def test_a_flow_whose_steps_do_not_plan_is_refused_naming_them() -> None:
    client, _user = client_for(VIEW_FLOW, RUN)
    row = get_flow_row("numbers")

    response = client.post(flow_plan_url(row))

    assert FlowRun.objects.count() == 0
    (said,) = messages_of(response)
    assert said.startswith("Flow “numbers” cannot be planned:")
    assert "total" in said


def test_a_disabled_flow_is_not_planned() -> None:
    row = review_flow()
    Flow.objects.filter(pk=row.pk).update(enabled=False)
    client, _user = client_for(VIEW_FLOW, RUN)

    response = client.post(flow_plan_url(row))

    assert FlowRun.objects.count() == 0
    assert response["Location"] == change_url(row)
    (said,) = messages_of(response)
    assert said == "Flow “review” was not planned: it is disabled. Enable it first."


@pytest.fixture
def approved(django_capture_on_commit_callbacks):
    """Return a plan of flow ``review``, approved, and a client of an approver."""
    row = review_flow()
    client, _user = client_for(*EVERYTHING)
    plan = planned(row, client, django_capture_on_commit_callbacks)
    client.post(plan_url(plan, "approve"))
    plan.refresh_from_db()
    assert plan.state == PlanState.APPROVED
    return plan, client


def refused_apply(client, plan: Plan, django_capture_on_commit_callbacks) -> str:
    """Press Apply; assert it changed nothing; return what the page said."""
    before, students_before = plan_state(plan), students()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(plan_url(plan, "apply"))
    assert response["Location"] == plan_url(plan)
    assert plan_state(plan) == before
    assert students() == students_before
    assert GreetStudents.sent == []
    said = messages_of(response)[-1]
    page = client.get(plan_url(plan)).content.decode()
    assert "data-apply" not in page or plan.state_at(timezone.now()) == PlanState.APPROVED
    return said


def test_an_apply_refused_for_a_changed_record_names_it(
    approved, django_capture_on_commit_callbacks
) -> None:
    plan, client = approved
    Student.objects.filter(netid="grace").update(name="Grace Hopper")

    said = refused_apply(client, plan, django_capture_on_commit_callbacks)

    assert said.startswith("Nothing was done: ")
    assert "changed since it was planned: grace" in said


def test_an_expired_plan_is_not_applied(approved, django_capture_on_commit_callbacks) -> None:
    plan, client = approved
    Plan.objects.filter(pk=plan.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    said = refused_apply(client, plan, django_capture_on_commit_callbacks)

    assert "expired at" in said
    assert 'data-plan-state="expired"' in client.get(plan_url(plan)).content.decode()


def test_a_rejected_plan_is_not_applied(approved, django_capture_on_commit_callbacks) -> None:
    plan, client = approved
    response = client.post(plan_url(plan, "reject"))
    assert messages_of(response)[-1].endswith("it will never be applied.")

    said = refused_apply(client, plan, django_capture_on_commit_callbacks)

    assert "was rejected" in said


def test_a_plan_is_applied_once(approved, django_capture_on_commit_callbacks) -> None:
    plan, client = approved
    with django_capture_on_commit_callbacks(execute=True):
        client.post(plan_url(plan, "apply"))
    GreetStudents.sent = []

    said = refused_apply(client, plan, django_capture_on_commit_callbacks)

    assert "was applied by run" in said


def test_a_plan_awaiting_approval_is_not_applied(django_capture_on_commit_callbacks) -> None:
    row = review_flow()
    client, _user = client_for(*EVERYTHING)
    plan = planned(row, client, django_capture_on_commit_callbacks)

    said = refused_apply(client, plan, django_capture_on_commit_callbacks)

    assert "awaits approval" in said
