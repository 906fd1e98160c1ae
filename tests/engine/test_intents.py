"""Intents in the engine: one code path for a plain run, debug mode, a plan and an apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from adminflow import AdminFlow, AdminPropagateStep, FlowConfigError, Intent, RetryableError
from adminflow.engine import RunStatus, StepStatus

from .helpers import Recorder, Trace, make_storer, propagate_step


@dataclass
class Pupil:
    netid: str
    emailed: bool = False
    tags: list[str] = field(default_factory=list)


def emailing(trace: Trace, *, failing: frozenset[str] = frozenset(), flaky: list | None = None):
    """Return a step class intending one email per pupil not emailed; ``failing`` ones raise."""

    class Email(AdminPropagateStep[Pupil]):
        description = "email pupils"

        def plan_records(self, records, logger, get_metadata):
            trace.add("plan")
            for pupil, lock in records:
                with lock:
                    if not pupil.emailed:
                        yield Intent(
                            "email", f"email {pupil.netid}", {"to": pupil.netid}, record=pupil
                        )

        def carry_out(self, intent, logger, get_metadata):
            if flaky and intent.params["to"] == "b":
                raise flaky.pop()
            if intent.params["to"] in failing:
                raise ValueError(f"no mailbox for {intent.params['to']}")
            trace.add(("sent", intent.params["to"]))
            return {"emailed": True}

    return Email


def flow_with(step: type, pupils: list[Pupil], **config: Any) -> tuple[AdminFlow, Any]:
    storer = make_storer(pupils)
    flow = AdminFlow("mail", "emails pupils", storer, "pupils", default_config=config)
    flow.add_propagate_step("email", step)
    return flow, storer.box


def test_a_plain_run_plans_then_carries_out_each_intent_and_writes_down_what_was_done():
    trace = Trace()
    flow, box = flow_with(emailing(trace), [Pupil("a"), Pupil("b", emailed=True), Pupil("c")])

    result = flow.run()

    assert result.succeeded
    assert trace.events == ["plan", ("sent", "a"), ("sent", "c")]
    assert [p.emailed for p in box.stored[-1]] == [True, True, True]


def test_debug_mode_logs_each_intent_and_carries_out_none():
    trace = Trace()
    flow, box = flow_with(emailing(trace), [Pupil("a")], **{"email-mode": "debug"})
    recorder = Recorder()

    assert flow.run(observers=[recorder]).succeeded

    assert trace.events == ["plan"]
    assert ("email", 20, "debug: would email a") in recorder.logs()
    assert box.stored[-1][0].emailed is False


def test_a_failed_intent_fails_the_step_after_the_others_are_carried_out():
    trace = Trace()
    step = emailing(trace, failing=frozenset({"b"}))
    flow, box = flow_with(step, [Pupil("a"), Pupil("b"), Pupil("c")])

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert trace.events[1:] == [("sent", "a"), ("sent", "c")]
    error = result.steps["email"].error
    assert "1 of 3 intents failed: email b: ValueError: no mailbox for b" in error
    # The propagate phase ran: what was done is stored, and only that.
    assert [p.emailed for p in box.stored[-1]] == [True, False, True]


def test_a_retried_step_does_not_carry_out_an_intent_twice():
    trace = Trace()
    step = emailing(trace, flaky=[RetryableError("rate limited")])
    step.retry = step.retry.__class__(max_attempts=2, backoff=0.0)
    flow, _box = flow_with(step, [Pupil("a"), Pupil("b")])

    assert flow.run().succeeded

    # The first attempt emailed a and failed on b; the retry plans again and emails b only.
    assert [e for e in trace.events if e != "plan"] == [("sent", "a"), ("sent", "b")]


def test_plan_records_must_yield_intents_with_json_params():
    class Bad(AdminPropagateStep):
        description = "bad intents"

        def plan_records(self, records, logger, get_metadata):
            return [Intent("email", "email a", {"when": object()})]

        def carry_out(self, intent, logger, get_metadata):
            raise AssertionError("never carried out")

    flow, _box = flow_with(Bad, [])

    result = flow.run()

    assert result.steps["email"].status is StepStatus.FAILED
    assert (
        "step 'email' planned intent 0 ('email a'): params must be JSON"
        in result.steps["email"].error
    )


def test_a_step_defining_only_one_of_the_two_methods_is_refused():
    class Half(AdminPropagateStep):
        description = "half opted in"

        def plan_records(self, records, logger, get_metadata):
            return []

    flow = AdminFlow("mail", "emails", make_storer([]), "pupils")

    with pytest.raises(FlowConfigError, match=r"defines plan_records\(\) but not carry_out\(\)"):
        flow.add_propagate_step("half", Half)


def test_a_plan_is_refused_naming_each_step_that_plans_no_intents_and_the_storer():
    trace = Trace()
    flow, _box = flow_with(emailing(trace), [Pupil("a")])
    flow.add_propagate_step("old", propagate_step())
    flow.add_propagate_step("older", propagate_step())

    result = flow.with_config({}).run(planning=True)

    assert result.status is RunStatus.FAILED
    assert "do not plan intents" in result.error
    assert "old, older" in result.error
    assert "cannot plan a store" in result.error
    assert trace.events == []


def test_a_storer_that_plans_a_store_but_cannot_check_or_make_one_is_refused_naming_what_it_lacks():
    pupils = [Pupil("a")]

    class HalfPlanning(make_storer(pupils)):
        def record_key(self, record):
            return record.netid

        def plan_store(self, rec_list, logger, touched=()):
            return []

    flow = AdminFlow("mail", "emails pupils", HalfPlanning, "pupils")
    flow.add_propagate_step("email", emailing(Trace()))

    result = flow.with_config({}).run(planning=True)

    assert result.status is RunStatus.FAILED
    assert "(it does not implement stale_keys, store_planned)" in result.error


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("record_key", (Pupil("a"),)),
        ("plan_store", ([], print)),
        ("stale_keys", ([],)),
        ("store_planned", ([], [], {}, print)),
    ],
)
def test_the_base_storers_plan_methods_refuse_naming_the_storer(method, args):
    storer = make_storer()({})

    with pytest.raises(NotImplementedError, match=r"^MemoryStorer does not support plans$"):
        getattr(storer, method)(*args)
