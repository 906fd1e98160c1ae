"""``runflow --due``: the flows whose schedule fell due, run here or queued, for cron.

The clock is frozen with time-machine at the pass; the schedules were saved
earlier, so their due times are in the past.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from adminflow import AdminFlow
from adminflow.models import Flow, FlowRun
from adminflow.runs import start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.commands.helpers import interrupted_at_wait, site_with
from tests.engine.helpers import failing, make_storer, propagate_step, update_step
from tests.factories import FlowFactory
from tests.run_helpers import STDIN_FLOW_SPEC, database_url, pipeline, runflow, step_statuses
from tests.schedule_helpers import utc

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
DUE_AT = "scheduled for 2024-06-01 12:15 UTC"


@pytest.fixture
def due(register, trace, time_machine):
    """Return ``make(flow_or_name, **fields)``: a flow on */15 saved at 12:05, due at 12:15.

    The clock is at 12:16 once the first flow is made.
    """

    def make(flow: AdminFlow | str, **fields) -> Flow:
        time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
        flow = register(pipeline(flow, trace) if isinstance(flow, str) else flow)
        row = FlowFactory(name=flow.name, schedule="*/15 * * * *", **fields)
        time_machine.move_to(utc(2024, 6, 1, 12, 16), tick=False)
        return row

    return make


# Run here


def test_due_runs_the_due_flows_here_one_after_another(due, trace):
    due("first")
    due("second")

    out, err, code = runflow("--due")

    assert (code, err) == (0, "")
    first, second = FlowRun.objects.order_by("pk")
    for run in (first, second):
        assert (run.status, run.trigger) == (FlowRunStatus.SUCCEEDED, Trigger.SCHEDULE)
        assert step_statuses(run) == dict.fromkeys(["r", "u1", "u2", "p"], "succeeded")
    assert out.startswith(
        f"Run {first.pk} of flow 'first', {DUE_AT}: queued\n"
        f"Run {second.pk} of flow 'second', {DUE_AT}: queued\n"
        "[FLOW] first: started (1 record, 2 update, 1 propagate steps)\n"
    )
    assert out.index(f"Run {first.pk} of flow 'first': succeeded") < out.index(
        "[FLOW] second: started"
    )
    assert f"Run {second.pk} of flow 'second': succeeded" in out
    assert trace.events.count("p") == 2


def test_nothing_due_prints_nothing_and_exits_0(due):
    due("later")
    Flow.objects.update(schedule="0 0 1 1 *")

    assert runflow("--due") == ("", "", 0)
    assert runflow("--due", "-v2") == ("No flow is due.\n", "", 0)


def test_a_flow_still_running_is_skipped_with_a_line_and_exit_0(due):
    due("busy")
    active = start_run("busy", trigger=Trigger.ADMIN)

    out, err, code = runflow("--due")

    assert (out, err, code) == (f"Skipped flow 'busy': run {active.pk} is queued.\n", "", 0)
    assert list(FlowRun.objects.all()) == [active]


def test_a_run_that_fails_here_exits_1_and_the_others_still_run(due, trace):
    broken = AdminFlow("broken", "fails", make_storer([1]), "records")
    broken.add_update_step("bad", update_step(failing("no roster")))
    broken.add_propagate_step("p", propagate_step(lambda call: None))
    due(broken)
    due("tidy")

    out, err, code = runflow("--due")

    assert code == 1
    failed = FlowRun.objects.get(flow__name="broken")
    assert err == f"CommandError: run {failed.pk} of flow 'broken' failed: failed steps: bad\n"
    tidy = FlowRun.objects.get(flow__name="tidy")
    assert tidy.status == FlowRunStatus.SUCCEEDED
    assert out.index("[FLOW] broken: started") < out.index("[FLOW] tidy: started")


def test_a_flow_that_cannot_start_exits_1_naming_it_and_the_others_still_run(due):
    due("broken", config={"ghost": {}})
    due("tidy")

    out, err, code = runflow("--due")

    assert code == 1
    assert err.startswith("CommandError: Flow 'broken' was not started for 2024-06-01 12:15 UTC: ")
    assert "ghost" in err
    run = FlowRun.objects.get()
    assert (run.flow.name, run.status) == ("tidy", FlowRunStatus.SUCCEEDED)
    assert out.startswith(f"Run {run.pk} of flow 'tidy', {DUE_AT}: queued\n")


# Queue for a worker


def test_due_enqueue_queues_each_due_run_for_a_worker(due, settings):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    due("first")
    due("second")

    out, err, code = runflow("--due", "--enqueue")

    assert (code, err) == (0, "")
    runs = list(FlowRun.objects.order_by("pk"))
    assert [(run.status, run.trigger) for run in runs] == [
        (FlowRunStatus.QUEUED, Trigger.SCHEDULE)
    ] * 2
    assert sorted(str(task.id) for task in DBTaskResult.objects.all()) == sorted(
        run.task_id for run in runs
    )
    assert out == "".join(
        f"Run {run.pk} of flow '{run.flow.name}', {DUE_AT}: queued, task {run.task_id}\n"
        for run in runs
    )


def test_due_enqueue_with_the_immediate_backend_runs_them_at_once(due):
    due("tidy")

    out, err, code = runflow("--due", "--enqueue")

    assert (code, err) == (0, "")
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.SUCCEEDED
    assert out == f"Run {run.pk} of flow 'tidy', {DUE_AT}: succeeded, task {run.task_id}\n"


def test_due_enqueue_quietly_prints_nothing(due, sent):
    due("tidy")

    assert runflow("--due", "--enqueue", "-v0") == ("", "", 0)
    assert len(sent) == 1


def test_due_enqueue_that_the_backend_refuses_exits_1_with_the_reason(due, sent, settings):
    settings.ADMINFLOW = {"TASK_QUEUE": "flows"}
    due("tidy")

    out, err, code = runflow("--due", "--enqueue")

    assert code == 1
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.FAILED
    assert err == (f"CommandError: Run {run.pk} of flow 'tidy', {DUE_AT}: failed: {run.error}\n")
    assert "could not be sent to the Tasks backend 'default' (queue 'flows')" in run.error
    assert out == ""


# Usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--due", "tidy"], "--due cannot be combined with a flow name ('tidy')"),
        (["--due", "--list"], "--due cannot be combined with --list"),
        (["--due", "--resume", "3"], "--due cannot be combined with --resume"),
        (["--due", "--validate"], "--due cannot be combined with --validate"),
        (["--due", "--describe"], "--due cannot be combined with --describe"),
        (
            ["--due", "--debug", "--mode", "p=debug", "--threads", "2"],
            "--due cannot be combined with --debug, --mode, --threads",
        ),
        (["--due", "--config", "week2.yaml"], "--due cannot be combined with --config"),
    ],
)
def test_due_with_what_does_not_go_with_it_is_a_usage_error(due, args, message):
    due("tidy")

    out, err, code = runflow(*args)

    assert (out, err, code) == ("", f"CommandError: {message}\n", 2)
    assert not FlowRun.objects.exists()


# Ctrl-C in a real process


def test_ctrl_c_cancels_the_running_run_and_the_waiting_ones_and_exits_1(tmp_path):
    # Two flows waiting on stdin, due since a minute ago.
    env = site_with(
        tmp_path,
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from adminflow.models import Flow\n"
        f"spec = {STDIN_FLOW_SPEC!r}\n"
        "for name in ('a-first', 'b-second'):\n"
        "    Flow.objects.create(name=name, spec={**spec, 'name': name}, schedule='* * * * *')\n"
        "Flow.objects.update(schedule_due_at=timezone.now() - timedelta(minutes=1))\n",
    )

    out, err, code = interrupted_at_wait(env, "--due")

    assert code == 1, err
    assert "[FLOW] b-second: started" not in out
    assert "CommandError: run 1 of flow 'a-first' cancelled: " in err
    assert "run 2 of flow 'b-second' cancelled: cancelled before it started" in err


# Several machines at once: two processes, one database


RACER = """
import sys
from datetime import datetime

import django

django.setup()

import time_machine
from django.core.management import call_command
from django.test.utils import override_settings

print("ready", flush=True)
sys.stdin.readline()  # both start together
with (
    override_settings(ADMINFLOW={"TASK_BACKEND": "database"}),
    time_machine.travel(datetime.fromisoformat(sys.argv[1]), tick=False),
):
    call_command("runflow", "--due", "--enqueue", "-v2")
"""


NUMBERS_SPEC = {
    "storer": {"type": "Numbers", "name": "numbers", "config": {"collection": "raced"}},
    "steps": [{"name": "add", "type": "AddNumbers", "config": {"numbers": [1]}}],
}


def test_two_due_calls_at_once_in_two_processes_start_one_run_per_flow(time_machine):
    # cron on two machines, the same minute: each due flow must run once, not twice.
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    names = [f"flow-{i:02d}" for i in range(10)]
    for name in names:  # defined as data, so the other processes know them
        FlowFactory(name=name, schedule="*/15 * * * *", spec=NUMBERS_SPEC)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONUNBUFFERED": "1",
    }
    # Three hours later: every flow is due, twelve times over.
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, "2024-06-01T15:07:00+00:00"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for racer in racers:
            assert racer.stdout.readline() == "ready\n", racer.stderr.read()
        for racer in racers:
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=60) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()

    assert [racer.returncode for racer in racers] == [0, 0], outputs
    runs = FlowRun.objects.order_by("flow__name")
    assert [run.flow.name for run in runs] == names
    assert {(run.trigger, run.status, run.scheduled_for) for run in runs} == {
        (Trigger.SCHEDULE, FlowRunStatus.QUEUED, utc(2024, 6, 1, 15, 0))
    }
    assert DBTaskResult.objects.count() == len(names)
    started = [line for out, _ in outputs for line in out.splitlines() if line.startswith("Run ")]
    assert sorted(line.split("'")[1] for line in started) == names
