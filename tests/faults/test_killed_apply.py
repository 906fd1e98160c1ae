"""An apply killed half way, then resumed: every intent is carried out exactly once.

The apply runs in a real ``runflow --apply`` process, killed with SIGKILL
while it carries out the third of five intents. Each intent's outcome was
written as soon as it was done, so the resume carries out exactly the three
not done; the outbox (one line per email sent) names each student once.
"""

from __future__ import annotations

from collections import Counter

import pytest

from adminflow.models import FlowRun
from adminflow.runs import approve_plan, execute_run, plan_run, reap_stale_runs
from adminflow.states import FlowRunStatus, IntentOutcome, RunPurpose, Trigger
from tests.plan_helpers import set_up_welcome
from tests.processes import django_command
from tests.run_helpers import runflow
from tests.testapp.models import Student

from .conftest import STALE_AFTER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

NETIDS = ["a", "b", "c", "d", "e"]


def test_an_apply_killed_half_way_resumes_with_exactly_the_intents_not_done(
    processes, tmp_path, settings
):
    settings.ADMINFLOW = {"STALE_AFTER": STALE_AFTER}
    welcome = set_up_welcome(tmp_path)
    welcome.list_roster([(n, n.upper(), f"{n}@uni.edu") for n in NETIDS])
    planned = execute_run(plan_run("welcome", trigger=Trigger.COMMAND, execute="here"))
    approve_plan(planned, None)
    welcome.hang_at("c")

    processes.start("apply", django_command("runflow", "--apply", str(planned.pk)))
    processes.wait_until(welcome.hanging, "the third email", alive=["apply"])
    processes.kill("apply")
    reaped: list[FlowRun] = []
    processes.wait_until(lambda: reaped.extend(reap_stale_runs()) or reaped, "a stale run")

    killed = FlowRun.objects.get(purpose=RunPurpose.APPLY)
    assert reaped == [killed]
    assert killed.status == FlowRunStatus.FAILED
    assert welcome.sent() == ["a", "b"]
    intents = planned.plan.intents
    assert dict(intents.values_list("key", "outcome")) == {
        "a": IntentOutcome.DONE,
        "b": IntentOutcome.DONE,
        "c": IntentOutcome.PENDING,
        "d": IntentOutcome.PENDING,
        "e": IntentOutcome.PENDING,
    }
    assert not Student.objects.exists()  # killed before storing: nothing half stored

    welcome.unhang()
    _out, err, code = runflow("--resume", str(killed.pk))

    assert code == 0, err
    assert Counter(welcome.sent()) == dict.fromkeys(NETIDS, 1)
    resumed = FlowRun.objects.get(resumed_from=killed)
    assert set(intents.values_list("outcome", flat=True)) == {IntentOutcome.DONE}
    assert set(intents.filter(carried_out_by=resumed).values_list("key", flat=True)) == {
        "c",
        "d",
        "e",
    }
    assert list(Student.objects.values_list("netid", "tags")) == [(n, ["welcomed"]) for n in NETIDS]
