"""Plan, approve, apply through the run service: exactly what was reviewed, or nothing."""

from __future__ import annotations

import pytest

from adminflow.models import Flow, FlowRun, PlannedIntent, RecordChange
from adminflow.runs import (
    NotAnApprover,
    NotOptedIn,
    PlanAlreadyApplied,
    PlanNotApproved,
    PlanStale,
    SecondPersonRequired,
    apply_plan,
    approve_plan,
    execute_run,
    plan_of,
    plan_run,
    rerun_run,
    resume_run,
    start_run,
)
from adminflow.runs.config import get_flow_row
from adminflow.states import (
    FlowRunStatus,
    IntentOutcome,
    PlanPolicy,
    PlanState,
    RunPurpose,
    Trigger,
)
from tests.admin.plan_helpers import made_plan
from tests.plan_helpers import set_up_welcome, stored_students
from tests.testapp.models import Student

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def welcome(tmp_path):
    return set_up_welcome(tmp_path)


def planned(**kwargs):
    run = plan_run("welcome", trigger=Trigger.COMMAND, execute="here", **kwargs)
    return execute_run(run)


def test_a_plan_records_intents_and_the_record_diff_and_changes_nothing(welcome):
    kept = stored_students(2)
    welcome.list_roster([*kept[:1], ("new1", "New One", "new1@uni.edu")])

    run = planned()

    assert run.status == FlowRunStatus.PLANNED
    plan = plan_of(run)
    assert plan.state == PlanState.PENDING
    assert list(plan.intents.values_list("step", "key", "action", "line")) == [
        ("welcome", "new1", "email", "email New One <new1@uni.edu>")
    ]
    diff = {r.key: (r.action, r.after) for r in plan.records.all()}
    assert diff["s001"] == ("removed", None)
    assert diff["new1"][0] == "added"
    assert sorted(Student.objects.values_list("netid", flat=True)) == ["s000", "s001"]
    assert welcome.sent() == []
    assert not RecordChange.objects.exists()


def test_apply_carries_out_exactly_the_approved_intents_and_stores_the_approved_diff(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu"), ("b", "Bo", "b@uni.edu")])
    run = planned()
    plan = plan_of(run)
    left_out = plan.intents.get(key="b")

    approve_plan(run, None, deselected_intents=[left_out.pk])
    # The roster changes after the plan: the apply must not recompute anything.
    welcome.list_roster([("c", "Cy", "c@uni.edu")])
    applied = execute_run(apply_plan(run, None, execute="here"))

    assert applied.status == FlowRunStatus.SUCCEEDED, applied.error
    assert applied.purpose == RunPurpose.APPLY
    assert applied.applies_plan == plan
    assert welcome.sent() == ["a"]
    assert list(Student.objects.values_list("netid", "tags")) == [("a", ["welcomed"])]
    outcomes = dict(plan.intents.values_list("key", "outcome"))
    assert outcomes == {"a": IntentOutcome.DONE, "b": IntentOutcome.PENDING}
    assert PlannedIntent.objects.get(key="a").carried_out_by == applied


def test_apply_is_refused_for_a_record_changed_since_the_plan_and_changes_nothing(welcome):
    kept = stored_students(3)
    welcome.list_roster(kept[:2])
    run = planned()
    approve_plan(run, None)
    Student.objects.filter(netid="s002").update(name="Renamed meanwhile")

    with pytest.raises(PlanStale, match="s002") as refused:
        apply_plan(run, None, execute="here")

    assert refused.value.keys == ["s002"]
    assert plan_of(run).state == PlanState.APPROVED
    assert FlowRun.objects.count() == 1
    assert Student.objects.count() == 3


def test_a_plan_is_applied_once(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = planned()
    approve_plan(run, None)
    first = execute_run(apply_plan(run, None, execute="here"))

    with pytest.raises(PlanAlreadyApplied, match=f"run {first.pk}"):
        apply_plan(run, None, execute="here")
    assert welcome.sent() == ["a"]


def test_an_unapproved_plan_is_not_applied(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = planned()

    with pytest.raises(PlanNotApproved):
        apply_plan(run, None, execute="here")
    assert welcome.sent() == []
    assert not Student.objects.exists()


def test_two_person_flow_the_planner_cannot_approve(welcome, django_user_model):
    welcome.row.plan_two_person = True
    welcome.row.save()
    planner = django_user_model.objects.create_superuser("planner", "p@uni.edu", "x")
    other = django_user_model.objects.create_superuser("other", "o@uni.edu", "x")
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = planned(user=planner)

    with pytest.raises(SecondPersonRequired, match="planner planned"):
        approve_plan(run, planner)
    with pytest.raises(SecondPersonRequired):
        approve_plan(run, None)
    assert plan_of(run).state == PlanState.PENDING
    assert approve_plan(run, other).approved_by == other


def test_approving_needs_the_permission(welcome, django_user_model):
    staff = django_user_model.objects.create_user("staff", "s@uni.edu", "x", is_staff=True)
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = planned()

    with pytest.raises(NotAnApprover, match="approve_flowrun"):
        approve_plan(run, staff)
    assert plan_of(run).state == PlanState.PENDING


def test_a_rerun_of_a_plan_plans_again_and_an_apply_is_not_rerun(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = planned()
    approve_plan(run, None)
    applied = execute_run(apply_plan(run, None, execute="here"))

    again = rerun_run(run, execute="here")

    assert again.purpose == RunPurpose.PLAN
    with pytest.raises(PlanAlreadyApplied, match="a plan is applied once"):
        rerun_run(applied)
    assert welcome.sent() == ["a"]


def test_a_flow_requiring_a_plan_refuses_a_run_it_cannot_plan():
    Flow.objects.filter(name="numbers").update(plan_required=PlanPolicy.ALWAYS)

    with pytest.raises(NotOptedIn, match="total") as refused:
        start_run("numbers", trigger=Trigger.COMMAND)

    assert refused.value.steps == ["total"]
    assert not FlowRun.objects.exists()
    # A debug run changes nothing: no gate.
    assert start_run("numbers", trigger=Trigger.COMMAND, debug=True).purpose == RunPurpose.RUN


def test_a_failed_intent_holds_back_its_record_until_the_resume_carries_it_out(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu"), ("b", "Bo", "b@uni.edu")])
    run = planned()
    approve_plan(run, None)
    welcome.refuse("b")

    failed = execute_run(apply_plan(run, None, execute="here"))

    assert failed.status == FlowRunStatus.FAILED
    step = failed.steps.get(name="welcome")
    assert "1 of 2 intents failed: email Bo <b@uni.edu>: ConnectionRefusedError" in step.error
    b = plan_of(run).intents.get(key="b")
    assert (b.outcome, b.error) == (
        IntentOutcome.FAILED,
        "ConnectionRefusedError: the mail server refused b@uni.edu",
    )
    # b is not stored claiming an email it did not get; a is, with what was done.
    assert list(Student.objects.values_list("netid", "tags")) == [("a", ["welcomed"])]

    welcome.refuse()
    resumed = execute_run(resume_run(failed, execute="here"))

    assert resumed.status == FlowRunStatus.SUCCEEDED, resumed.error
    assert welcome.sent() == ["a", "b"]
    assert list(Student.objects.values_list("netid", "tags")) == [
        ("a", ["welcomed"]),
        ("b", ["welcomed"]),
    ]


def test_a_record_only_an_intent_is_about_is_checked_too(welcome):
    (student,) = stored_students(1)
    Student.objects.update(tags=[])  # not welcomed: an intent, and no change of its own
    welcome.list_roster([student])
    run = planned()
    assert list(plan_of(run).records.values_list("key", "action")) == [("s000", "unchanged")]
    approve_plan(run, None)
    Student.objects.update(email="elsewhere@uni.edu")

    with pytest.raises(PlanStale, match="s000"):
        apply_plan(run, None, execute="here")
    assert welcome.sent() == []


def test_a_plan_of_a_flow_that_can_no_longer_be_planned_is_refused_and_nothing_is_queued():
    # Planned before its spec changed: flow "numbers" now plans no intents and stores no plan.
    plan = made_plan(flow=get_flow_row("numbers"), state=PlanState.APPROVED)

    with pytest.raises(NotOptedIn, match=r"flow 'numbers' cannot be planned: .*storer"):
        apply_plan(plan.run, None, execute="here")

    assert FlowRun.objects.count() == 1
    assert plan_of(plan.run).state == PlanState.APPROVED
    assert plan_of(plan.run).applied_by_run is None
