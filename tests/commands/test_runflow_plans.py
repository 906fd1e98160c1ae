"""``runflow --plan / --approve / --reject / --apply``: the cycle, and each refusal's exit code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from adminflow.models import FlowRun, Plan, RecordChange
from adminflow.states import FlowRunStatus, IntentOutcome, PlanPolicy, PlanState, RunPurpose
from tests.plan_helpers import set_up_welcome, stored_students
from tests.run_helpers import runflow
from tests.testapp.models import Student

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def welcome(tmp_path):
    return set_up_welcome(tmp_path)


def plan_id(welcome) -> int:
    out, err, code = runflow("welcome", "--plan", "-v0")
    assert code == 0, err
    return int(out.split()[-1])


def unchanged(welcome, students: list[str]) -> None:
    assert sorted(Student.objects.values_list("netid", flat=True)) == students
    assert welcome.sent() == []
    assert not RecordChange.objects.exists()


def test_the_whole_cycle_plan_approve_apply(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu"), ("b", "Bo", "b@uni.edu")])

    out, err, code = runflow("welcome", "--plan")
    assert code == 0, err
    assert "[welcome] email Ann <a@uni.edu>" in out
    assert "2 intents; records 2 added, 0 changed, 0 removed" in out
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.PLANNED
    assert f"runflow --approve {run.pk}" in out
    unchanged(welcome, [])

    out, err, code = runflow("--approve", str(run.pk))
    assert code == 0, err
    assert f"runflow --apply {run.pk}" in out

    out, err, code = runflow("--apply", str(run.pk))
    assert code == 0, err
    assert "Intents of the plan of run" in out
    assert "2 done, 0 failed" in out
    assert welcome.sent() == ["a", "b"]
    assert list(Student.objects.values_list("tags", flat=True)) == [["welcomed"]] * 2
    apply_run = FlowRun.objects.get(purpose=RunPurpose.APPLY)
    assert apply_run.records_added == 2


def test_a_flow_whose_propagate_step_plans_no_intents_cannot_be_planned():
    _out, err, code = runflow("numbers", "--plan")

    assert code == 2
    assert "do not plan intents" in err
    assert "total" in err
    assert not FlowRun.objects.exists()


def test_an_unapproved_plan_exits_4_and_changes_nothing(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = plan_id(welcome)

    _out, err, code = runflow("--apply", str(run))

    assert code == 4
    assert "awaits approval" in err
    unchanged(welcome, [])
    assert FlowRun.objects.count() == 1


def test_a_rejected_plan_exits_4_and_changes_nothing(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = plan_id(welcome)
    assert runflow("--reject", str(run))[2] == 0

    _out, err, code = runflow("--apply", str(run))

    assert code == 4
    assert "rejected" in err
    unchanged(welcome, [])
    assert Plan.objects.get().state == PlanState.REJECTED


def test_an_expired_plan_exits_4_and_changes_nothing(welcome, time_machine):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    time_machine.move_to(timezone.now(), tick=False)
    run = plan_id(welcome)
    assert runflow("--approve", str(run))[2] == 0

    time_machine.shift(timedelta(hours=24, seconds=1))
    _out, err, code = runflow("--apply", str(run))

    assert code == 4
    assert "expired" in err
    unchanged(welcome, [])


def test_a_plan_expires_after_the_setting(welcome, settings, time_machine):
    settings.ADMINFLOW = {"PLAN_EXPIRES_AFTER": 60}
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    time_machine.move_to(timezone.now(), tick=False)
    run = plan_id(welcome)

    time_machine.shift(timedelta(seconds=61))
    _out, err, code = runflow("--approve", str(run))

    assert code == 2
    assert "expired" in err


def test_a_second_apply_exits_4_and_changes_nothing(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu")])
    run = plan_id(welcome)
    runflow("--approve", str(run))
    assert runflow("--apply", str(run))[2] == 0
    changes = RecordChange.objects.count()

    _out, err, code = runflow("--apply", str(run))

    assert code == 4
    assert "was applied by run" in err
    assert welcome.sent() == ["a"]
    assert RecordChange.objects.count() == changes


def test_a_record_changed_since_the_plan_exits_4_naming_it(welcome):
    students = stored_students(2)
    welcome.list_roster([students[0]])
    run = plan_id(welcome)
    runflow("--approve", str(run))
    Student.objects.filter(netid="s001").update(email="changed@uni.edu")

    _out, err, code = runflow("--apply", str(run))

    assert code == 4
    assert "these records changed since it was planned: s001" in err
    assert Student.objects.count() == 2
    assert not RecordChange.objects.exists()


def test_the_blast_radius_gate_stops_an_import_dropping_60_percent_and_tells_approvers(
    tmp_path, django_user_model
):
    welcome = set_up_welcome(
        tmp_path, plan_required=PlanPolicy.BLAST_RADIUS, plan_max_drop_share=0.5
    )
    django_user_model.objects.create_superuser("head", "head@uni.edu", "x")
    students = stored_students(10)
    welcome.list_roster(students[:4])

    _out, err, code = runflow("welcome")

    assert code == 5
    assert "would remove 6 of its 10 records (60%), more than the 50% allowed" in err
    run = FlowRun.objects.get()
    assert (run.status, run.purpose) == (FlowRunStatus.PLANNED, RunPurpose.GATED)
    assert Student.objects.count() == 10
    assert [m.to for m in mail.outbox] == [["head@uni.edu"]]
    assert f"run {run.pk} awaits approval" in mail.outbox[0].subject


def test_a_run_within_the_blast_radius_is_applied_at_once(tmp_path):
    welcome = set_up_welcome(
        tmp_path, plan_required=PlanPolicy.BLAST_RADIUS, plan_max_drop_share=0.5
    )
    students = stored_students(10)
    welcome.list_roster([*students[:6], ("new", "New", "new@uni.edu")])

    _out, err, code = runflow("welcome")

    assert code == 0, err
    assert Student.objects.count() == 7
    assert welcome.sent() == ["new"]
    planning = FlowRun.objects.get(purpose=RunPurpose.GATED)
    assert planning.plan.state == PlanState.APPLIED
    assert planning.plan.intents.get().outcome == IntentOutcome.DONE
    assert not mail.outbox


def test_approve_leaves_out_the_intents_named_and_refuses_unknown_ones(welcome):
    welcome.list_roster([("a", "Ann", "a@uni.edu"), ("b", "Bo", "b@uni.edu")])
    run = plan_id(welcome)
    left_out = Plan.objects.get().intents.get(key="b").pk

    _out, err, code = runflow("--approve", str(run), "--deselect-intent", "999999")
    assert code == 2
    assert "has no intents with ids 999999" in err
    assert Plan.objects.get().state == PlanState.PENDING

    assert runflow("--approve", str(run), "--deselect-intent", str(left_out))[2] == 0
    assert runflow("--apply", str(run))[2] == 0
    assert welcome.sent() == ["a"]
    assert list(Student.objects.values_list("netid", flat=True)) == ["a"]
