"""The plan page: what it shows of a plan in each state, its search, pages and CSV exports,
in a bounded number of queries however large the plan."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from adminflow.admin.plan_page import INTENTS_PAGE_SIZE
from adminflow.models import Plan, PlannedIntent, PlannedRecord
from adminflow.states import IntentOutcome, PlanState, RunPurpose
from tests.factories import FlowRunFactory

from .plan_helpers import APPROVE, VIEW, client_for, made_plan, plan_url
from .run_helpers import run_url

pytestmark = pytest.mark.django_db


def page_of(plan: Plan, *permissions: str, **query: str) -> tuple[str, dict]:
    client, _user = client_for(VIEW, *permissions)
    response = client.get(plan_url(plan), query)
    assert response.status_code == 200
    return response.content.decode(), response.context


def csv_rows(plan: Plan, view: str, **query: str) -> list[list[str]]:
    client, _user = client_for(VIEW)
    response = client.get(plan_url(plan, view), query)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_diff_shows_each_records_fields_before_and_after() -> None:
    plan = made_plan(intents=0, records=4)

    html, context = page_of(plan)

    rows = {row.record.key: row for row in context["diff_rows"]}
    assert [(f.name, f.before, f.after) for f in rows["s0"].fields] == [("section", "A", "B")]
    assert {(f.name, f.before, f.after) for f in rows["s2"].fields} == {
        ("name", "", "Old 2"),
        ("section", "", "B"),
    }
    assert {(f.name, f.before, f.after) for f in rows["s3"].fields} == {
        ("name", "Old 3", ""),
        ("section", "A", ""),
    }
    assert [(c.action, c.total) for c in context["record_counts"]] == [
        ("added", 1),
        ("changed", 2),
        ("removed", 1),
    ]
    assert "The plan has no intent." in html


def test_intents_are_grouped_by_step_and_action_with_their_counts() -> None:
    plan = made_plan(intents=8)
    PlannedIntent.objects.filter(plan=plan, position=0).update(selected=False)

    html, context = page_of(plan)

    assert [(g.step, g.action, g.total, g.selected) for g in context["groups"]] == [
        ("invite", "email", 2, 2),
        ("invite", "invite", 2, 2),
        ("welcome", "email", 2, 1),
        ("welcome", "invite", 2, 2),
    ]
    assert html.count("data-intent-group=") == 4
    assert "do something for s5" in html


def test_the_search_narrows_intents_and_records_on_the_server() -> None:
    plan = made_plan(intents=30, records=3)

    html, context = page_of(plan, q="s1")

    keys = sorted(intent.key for intent in context["intents"])
    assert keys == ["s1", *(f"s{n}" for n in range(10, 20))]
    assert [row.record.key for row in context["diff_rows"]] == ["s1"]
    assert 'value="s1"' in html


def test_a_group_link_shows_only_that_steps_action() -> None:
    plan = made_plan(intents=12)

    _html, context = page_of(plan, step="welcome", action="invite")

    assert {(i.step, i.action) for i in context["intents"]} == {("welcome", "invite")}
    assert context["intents"].paginator.count == 3


def test_a_large_plan_is_shown_a_page_at_a_time() -> None:
    plan = made_plan(intents=INTENTS_PAGE_SIZE * 2 + 5)

    html, context = page_of(plan, page="3")

    assert len(context["intents"]) == 5
    assert f"{INTENTS_PAGE_SIZE * 2 + 5} intents · page 3 of 3" in html
    assert context["intent_links"]["next"] is None
    assert "page=2" in context["intent_links"]["previous"]


@pytest.mark.parametrize("size", [50, 5000])
def test_the_plan_page_takes_the_same_few_queries_however_large_the_plan(
    size: int, django_assert_max_num_queries
) -> None:
    plan = made_plan(intents=size, records=min(size, 200))
    client, _user = client_for(VIEW, APPROVE)

    with django_assert_max_num_queries(14):
        response = client.get(plan_url(plan), {"q": "s1", "page": "2"})

    assert response.status_code == 200


def test_the_intents_export_holds_every_intent_the_search_shows() -> None:
    plan = made_plan(intents=250)
    PlannedIntent.objects.filter(plan=plan, key="s7").update(
        outcome=IntentOutcome.FAILED, error="it broke", line="=HYPERLINK(1)"
    )

    every = csv_rows(plan, "intents_csv")
    found = csv_rows(plan, "intents_csv", q="hyperlink")

    assert every[0] == [
        "step", "action", "key", "line", "params", "selected", "outcome", "error", "carried_out_at",
    ]  # fmt: skip
    assert len(every) == 251
    assert found[1:] == [
        ["invite", "invite", "s7", "'=HYPERLINK(1)", "{}", "yes", "failed", "it broke", ""]
    ]


def test_the_diff_export_has_one_row_per_field() -> None:
    plan = made_plan(intents=0, records=4)
    PlannedRecord.objects.filter(plan=plan, key="s1").update(selected=False)

    rows = csv_rows(plan, "records_csv")

    assert rows[0] == ["key", "action", "field", "before", "after", "selected"]
    assert ["s1", "changed", "section", "A", "B", "no"] in rows
    assert sorted(r[2] for r in rows if r[0] == "s2") == ["name", "section"]


@pytest.mark.parametrize(
    ("state", "expires_in", "says"),
    [
        (PlanState.PENDING, timedelta(hours=5), 'data-plan-state="pending"'),
        (PlanState.PENDING, timedelta(hours=-1), 'data-plan-state="expired"'),
        (PlanState.APPROVED, timedelta(hours=5), 'data-plan-state="approved"'),
        (PlanState.REJECTED, timedelta(hours=5), 'data-plan-state="rejected"'),
    ],
)
def test_the_page_says_the_plans_state_and_offers_what_it_allows(
    state: str, expires_in: timedelta, says: str
) -> None:
    plan = made_plan(state=state, expires_in=expires_in)

    html, context = page_of(plan, APPROVE)

    assert says in html
    assert ("data-approve" in html) == (state == PlanState.PENDING and expires_in > timedelta(0))
    assert ("data-apply" in html) == (state == PlanState.APPROVED)
    assert 'name="intent"' in html if "data-approve" in html else 'name="intent"' not in html
    assert ("Expires" in html) == (context["state"].state in ("pending", "approved"))


def test_an_applied_plan_links_its_apply_run_and_shows_each_outcome() -> None:
    plan = made_plan(intents=2, state=PlanState.APPLIED)
    apply_run = FlowRunFactory(flow=plan.run.flow, status="failed", applies_plan=plan)
    Plan.objects.filter(pk=plan.pk).update(applied_by_run=apply_run)
    plan.intents.filter(position=0).update(outcome=IntentOutcome.DONE)
    plan.intents.filter(position=1).update(outcome=IntentOutcome.FAILED, error="Boom: no")

    html, _context = page_of(plan, APPROVE)

    assert f'href="{run_url(apply_run)}"' in html
    assert 'data-outcome="done"' in html
    assert 'data-outcome="failed"' in html
    assert "Boom: no" in html
    assert "data-apply" not in html
    assert "data-approve" not in html


def test_the_planner_of_a_two_person_flow_is_told_why_they_cannot_approve() -> None:
    client, planner = client_for(VIEW, APPROVE)
    plan = made_plan(planned_by=planner, two_person=True)

    html = client.get(plan_url(plan)).content.decode()

    assert "data-approve" not in html
    assert f"needs a second person to approve: {planner} planned run {plan.run_id}" in html
    assert "data-reject" in html


def test_text_from_steps_is_escaped() -> None:
    plan = made_plan(intents=1)
    PlannedIntent.objects.filter(plan=plan).update(line="<script>alert(1)</script>", key="<b>")

    html, _context = page_of(plan)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_plan_that_does_not_exist_sends_back_to_the_index() -> None:
    client, _user = client_for(VIEW)

    response = client.get("/admin/adminflow/plan/424242/change/")

    assert response.status_code == 302
    assert client.get("/admin/adminflow/plan/424242/intents_csv/").status_code == 404


def test_a_failed_apply_offers_only_its_resume() -> None:
    plan = made_plan(state=PlanState.APPLIED)
    apply_run = FlowRunFactory(
        flow=plan.run.flow, status="failed", applies_plan=plan, purpose=RunPurpose.APPLY
    )
    client, _user = client_for(VIEW, "adminflow.rerun_flowrun", "adminflow.resume_flowrun")

    buttons = client.get(run_url(apply_run)).context["buttons"]

    assert [(b["action"], str(b["label"])) for b in buttons] == [
        ("resume", "Resume the apply: carry out the intents not done")
    ]


def test_a_plans_run_page_offers_to_plan_again() -> None:
    plan = made_plan()
    client, _user = client_for(VIEW, "adminflow.rerun_flowrun")

    buttons = client.get(run_url(plan.run)).context["buttons"]

    assert [(b["action"], str(b["label"])) for b in buttons] == [
        ("rerun", "Plan again with the same config")
    ]
