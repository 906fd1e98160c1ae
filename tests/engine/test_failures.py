"""Failing steps and storers: who is failed, who never starts, what is stored, no hangs."""

from __future__ import annotations

import threading

import pytest

from adminflow import AdminFlow, RunStatus, StepStatus

from .helpers import (
    WAIT,
    Trace,
    failing,
    make_storer,
    propagate_step,
    record_step,
    tracing,
    update_step,
)

pytestmark = pytest.mark.timeout(30)


def statuses(result):
    return {name: str(step.status) for name, step in result.steps.items()}


def never_starts(trace: Trace, name: str):
    return tracing(trace, f"{name} STARTED")


def test_a_failing_step_is_failed_with_its_error_and_traceback(flow):
    def explode(call):
        raise KeyError("missing-username")

    flow.add_update_step("check", update_step(explode))

    result = flow.run()

    step = result.steps["check"]
    assert step.status is StepStatus.FAILED
    assert step.error == "KeyError: 'missing-username'"
    assert "Traceback (most recent call last)" in step.traceback
    assert "in explode" in step.traceback
    assert "missing-username" in step.traceback
    assert step.finished_at is not None
    assert result.status is RunStatus.FAILED
    assert "check" in result.error


def test_an_update_failure_blocks_dependents_but_not_independent_steps(flow, storer):
    trace = Trace()
    flow.add_update_step("bad", update_step(failing()))
    flow.add_update_step("child", update_step(never_starts(trace, "child")), depends_on=["bad"])
    flow.add_update_step(
        "grandchild", update_step(never_starts(trace, "grandchild")), depends_on=["child"]
    )
    flow.add_update_step("independent", update_step(tracing(trace, "independent")))
    flow.add_propagate_step("ping", propagate_step(never_starts(trace, "ping")))
    flow.config({"num_threads": 1})

    result = flow.run()

    assert statuses(result) == {
        "bad": "failed",
        "child": "upstream_failed",
        "grandchild": "upstream_failed",
        "independent": "succeeded",
        "ping": "skipped",
    }
    assert trace.events == ["independent"]
    assert result.stored is False
    assert storer.box.stored == []
    assert result.status is RunStatus.FAILED
    assert result.steps["child"].started_at is None


def test_a_record_failure_runs_no_later_step_and_stores_nothing(flow, storer):
    trace = Trace()
    flow.add_record_step("first", record_step(tracing(trace, "first")))
    flow.add_record_step("bad", record_step(failing()))
    flow.add_record_step("after", record_step(never_starts(trace, "after")))
    flow.add_update_step("u", update_step(never_starts(trace, "u")))
    flow.add_propagate_step("p", propagate_step(never_starts(trace, "p")))

    result = flow.run()

    assert statuses(result) == {
        "first": "succeeded",
        "bad": "failed",
        "after": "upstream_failed",
        "u": "skipped",
        "p": "skipped",
    }
    assert trace.events == ["first"]
    assert storer.box.stored == []
    assert result.status is RunStatus.FAILED


def test_a_record_step_that_returns_no_list_breaks_its_contract(flow, storer):
    flow.add_record_step("forgot-return", record_step(lambda call: "not a list"))

    result = flow.run()

    step = result.steps["forgot-return"]
    assert step.status is StepStatus.FAILED
    assert step.error.startswith("StepContractError")
    assert "forgot-return" in step.error
    assert storer.box.stored == []


def test_a_propagate_failure_lets_the_others_finish_and_stores_the_records(flow, storer):
    trace = Trace()

    def write_down(call):
        for index, (record, lock) in enumerate(call.records):
            with lock:
                call.records[index] = (f"{record}-invited", lock)

    flow.add_update_step("u", update_step(tracing(trace, "u")))
    flow.add_propagate_step("bad", propagate_step(failing("smtp down")))
    flow.add_propagate_step(
        "after-bad", propagate_step(never_starts(trace, "x")), depends_on=["bad"]
    )
    flow.add_propagate_step("invite", propagate_step(write_down))
    flow.add_propagate_step(
        "after-invite", propagate_step(tracing(trace, "ai")), depends_on=["invite"]
    )
    flow.config({"num_threads": 1})

    result = flow.run()

    assert statuses(result) == {
        "u": "succeeded",
        "bad": "failed",
        "after-bad": "upstream_failed",
        "invite": "succeeded",
        "after-invite": "succeeded",
    }
    assert result.status is RunStatus.FAILED
    assert result.stored is True
    assert storer.box.stored == [["1-invited", "2-invited", "3-invited"]]
    assert "bad" in result.error


def test_fail_fast_skips_every_step_not_yet_started(flow, storer):
    trace = Trace()
    flow.add_update_step("bad", update_step(failing()))
    flow.add_update_step("queued", update_step(never_starts(trace, "queued")))
    flow.add_update_step("also-queued", update_step(never_starts(trace, "also-queued")))
    flow.add_propagate_step("p", propagate_step(never_starts(trace, "p")))
    flow.config({"num_threads": 1, "fail_fast": True})

    result = flow.run()

    assert statuses(result) == {
        "bad": "failed",
        "queued": "skipped",
        "also-queued": "skipped",
        "p": "skipped",
    }
    assert trace.events == []
    assert storer.box.stored == []


def test_fail_fast_lets_a_step_already_running_finish(flow):
    barrier = threading.Barrier(2, timeout=WAIT)

    def fail_after_meeting(call):
        barrier.wait()
        raise RuntimeError("boom")

    flow.add_update_step("bad", update_step(fail_after_meeting))
    flow.add_update_step("running", update_step(lambda call: barrier.wait()))
    flow.config({"num_threads": 2, "fail_fast": True})

    result = flow.run()

    assert statuses(result) == {"bad": "failed", "running": "succeeded"}


def test_fail_fast_in_the_propagate_phase_still_stores(flow, storer):
    trace = Trace()
    flow.add_propagate_step("bad", propagate_step(failing()))
    flow.add_propagate_step("queued", propagate_step(never_starts(trace, "queued")))
    flow.config({"num_threads": 1, "fail_fast": True})

    result = flow.run()

    assert statuses(result) == {"bad": "failed", "queued": "skipped"}
    assert result.stored is True
    assert storer.box.stored == [[1, 2, 3]]


def test_without_fail_fast_independent_steps_still_run_after_a_failure(flow):
    trace = Trace()
    flow.add_update_step("bad", update_step(failing()))
    flow.add_update_step("next", update_step(tracing(trace, "next")))
    flow.config({"num_threads": 1, "fail_fast": False})

    result = flow.run()

    assert trace.events == ["next"]
    assert statuses(result) == {"bad": "failed", "next": "succeeded"}


def test_a_step_raising_system_exit_is_just_a_failed_step(flow, storer):
    def leave(call):
        raise SystemExit(3)

    flow.add_update_step("exit", update_step(leave))
    flow.add_update_step("other", update_step())

    result = flow.run()

    assert statuses(result) == {"exit": "failed", "other": "succeeded"}
    assert result.steps["exit"].error.startswith("SystemExit")


# storer failures


def test_a_storer_that_cannot_load_fails_the_run_before_any_step():
    storer = make_storer(load_error=OSError("roster.csv is unreadable"))
    trace = Trace()
    flow = AdminFlow("f", "d", storer, "students")
    flow.add_record_step("r", record_step(never_starts(trace, "r")))
    flow.add_update_step("u", update_step(never_starts(trace, "u")))

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert "students" in result.error
    assert "roster.csv is unreadable" in result.error
    assert "OSError" in result.traceback
    assert statuses(result) == {"r": "skipped", "u": "skipped"}
    assert trace.events == []
    assert storer.box.stored == []


def test_a_storer_that_cannot_store_fails_the_run():
    storer = make_storer([1], store_error=RuntimeError("database is locked"))
    flow = AdminFlow("f", "d", storer, "students")
    flow.add_update_step("u", update_step())

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert result.stored is False
    assert "students" in result.error
    assert "database is locked" in result.error
    assert statuses(result) == {"u": "succeeded"}


# nothing ever hangs


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["record", "update", "propagate"])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_a_failing_step_with_dependents_never_hangs(flow, kind, num_threads):
    make = {"record": record_step, "update": update_step, "propagate": propagate_step}[kind]
    add = getattr(flow, f"add_{kind}_step")
    add("bad", make(failing()))
    if kind == "record":
        add("after-1", make())
        add("after-2", make())
    else:
        add("after-1", make(), depends_on=["bad"])
        add("after-2", make(), depends_on=["after-1", "bad"])
        add("free", make())
    flow.config({"num_threads": num_threads})

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert result.steps["bad"].status is StepStatus.FAILED
    assert result.steps["after-1"].status is StepStatus.UPSTREAM_FAILED
    assert result.steps["after-2"].status is StepStatus.UPSTREAM_FAILED
    assert all(step.status.is_finished for step in result.steps.values())


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fail_fast", [False, True])
def test_a_run_where_every_worker_step_fails_never_hangs(flow, fail_fast):
    barrier = threading.Barrier(2, timeout=WAIT)

    def meet_then_fail(call):
        barrier.wait()
        raise RuntimeError("all down")

    for kind, make in (("update", update_step), ("propagate", propagate_step)):
        add = getattr(flow, f"add_{kind}_step")
        add(f"{kind}-a", make(meet_then_fail if kind == "update" else failing()))
        add(f"{kind}-b", make(meet_then_fail if kind == "update" else failing()))
        add(f"{kind}-c", make(failing()), depends_on=[f"{kind}-a"])
        add(f"{kind}-d", make(failing()))
    flow.config({"num_threads": 2, "fail_fast": fail_fast})

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert result.steps["update-a"].status is StepStatus.FAILED
    assert result.steps["update-b"].status is StepStatus.FAILED
    assert result.steps["update-c"].status is StepStatus.UPSTREAM_FAILED
    assert result.steps["propagate-a"].status is StepStatus.SKIPPED
    assert all(step.status.is_finished for step in result.steps.values())


@pytest.mark.timeout(10)
def test_every_record_step_failing_never_hangs(flow):
    for name in ("a", "b", "c"):
        flow.add_record_step(name, record_step(failing()))

    result = flow.run()

    assert statuses(result) == {"a": "failed", "b": "upstream_failed", "c": "upstream_failed"}
