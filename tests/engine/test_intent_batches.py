"""Intents carried out in batches (``carry_out_batch``): shared requests, outcomes one by one."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from adminflow import AdminFlow, AdminPropagateStep, Intent, RetryableError, RetryPolicy
from adminflow.engine import RunStatus

from .helpers import Trace, make_storer


@dataclass
class Pupil:
    netid: str
    house: str = "red"
    graded: str = ""


def grading(trace: Trace, *, size: int = 2, outcome=None, cancel=None):
    """Return a step intending one grade per ungraded pupil, posted ``size`` at a time per house.

    ``outcome(intent)`` may give an intent's outcome (marks or an exception) instead of done.
    """

    class Grade(AdminPropagateStep[Pupil]):
        description = "grade pupils in bulk"
        batch_size = size
        retry = RetryPolicy(max_attempts=2, backoff=0.0)

        def plan_records(self, records, logger, get_metadata):
            for pupil, lock in records:
                with lock:
                    if not pupil.graded:
                        params = {"netid": pupil.netid, "house": pupil.house}
                        yield Intent("grade", f"grade {pupil.netid}", params, record=pupil)

        def batch_key(self, intent):
            return intent.params["house"]

        def carry_out(self, intent, logger, get_metadata):
            raise AssertionError("a batched step is carried out in batches")

        def carry_out_batch(self, intents, logger, get_metadata):
            trace.add(tuple(i.params["netid"] for i in intents))
            if cancel is not None:
                cancel.set()
            given = [outcome(i) if outcome else None for i in intents]
            return [{"graded": "A"} if given is None else given for given in given]

    return Grade


def run_grading(step: type, pupils: list[Pupil], **options: Any):
    storer = make_storer(pupils)
    flow = AdminFlow("grades", "grade pupils", storer, "pupils")
    flow.add_propagate_step("grade", step)
    return flow.run(**options), storer.box


def test_a_plain_run_carries_out_batches_of_one_key_and_writes_each_outcome():
    trace = Trace()
    pupils = [Pupil("a"), Pupil("b", "blue"), Pupil("c"), Pupil("d"), Pupil("e", graded="B")]

    result, box = run_grading(grading(trace), pupils)

    assert result.succeeded, result.error
    assert trace.events == [("a", "c"), ("d",), ("b",)]  # red two at a time, then blue
    assert [p.graded for p in box.stored[-1]] == ["A", "A", "A", "A", "B"]


def test_an_intent_failed_in_a_batch_fails_alone_and_the_step_names_it():
    trace = Trace()
    fail_b = grading(
        trace, outcome=lambda i: ValueError("no mark") if i.line == "grade b" else None
    )

    result, box = run_grading(fail_b, [Pupil("a"), Pupil("b"), Pupil("c")])

    assert result.status is RunStatus.FAILED
    assert "1 of 3 intents failed: grade b: ValueError: no mark" in result.steps["grade"].error
    assert [p.graded for p in box.stored[-1]] == ["A", "", "A"]
    assert trace.events == [("a", "b"), ("c",)]


def test_a_retryable_outcome_retries_the_step_and_keeps_what_its_batch_did():
    trace = Trace()
    throttled = [RetryableError("slow down")]

    def outcome(intent):
        if intent.line == "grade b" and throttled:
            return throttled.pop()
        return None

    result, box = run_grading(grading(trace, outcome=outcome), [Pupil("a"), Pupil("b"), Pupil("c")])

    assert result.succeeded, result.error
    assert result.steps["grade"].attempts == 2
    # a was done in the throttled batch: the retry plans b and c only.
    assert trace.events == [("a", "b"), ("b", "c")]
    assert [p.graded for p in box.stored[-1]] == ["A", "A", "A"]


def test_a_batch_must_give_one_outcome_per_intent_and_batch_size_must_be_positive():
    class Short(grading(Trace())):
        def carry_out_batch(self, intents, logger, get_metadata):
            return [{"graded": "A"}]

    class Sizeless(grading(Trace())):
        batch_size = 0

    short, box = run_grading(Short, [Pupil("a"), Pupil("b")])
    sizeless, _box = run_grading(Sizeless, [Pupil("a")])

    assert "carry_out_batch must return one outcome per intent, got 1 for 2" in (
        short.steps["grade"].error
    )
    assert [p.graded for p in box.stored[-1]] == ["", ""]
    assert (
        "step 'grade' carries out intents in batches: Sizeless.batch_size must be a positive "
        "whole number, got 0" in sizeless.steps["grade"].error
    )


def test_a_cancel_stops_between_batches_and_the_batch_done_is_recorded():
    trace = Trace()
    cancel = threading.Event()

    result, box = run_grading(
        grading(trace, cancel=cancel), [Pupil("a"), Pupil("b"), Pupil("c")], cancel_event=cancel
    )

    assert result.status is RunStatus.FAILED
    assert trace.events == [("a", "b")]
    assert "1 not carried out: cancelled" in result.steps["grade"].error
    assert [p.graded for p in box.stored[-1]] == ["A", "A", ""]


class KeptPlan:
    """An approved plan as the engine is given one: some intents, each outcome heard."""

    def __init__(self, intents: list[Intent]) -> None:
        self.intents = {"grade": intents}
        self.heard: list[tuple[str, str | None, dict[str, Any]]] = []

    def check(self, logger: Any) -> None:
        pass

    def carried_out(self, intent: Intent, error: str | None, marks: dict[str, Any]) -> None:
        self.heard.append((intent.line, error, marks))

    def store(self, logger: Any) -> None:
        pass


def test_an_apply_carries_out_the_kept_intents_in_batches_and_hears_each_outcome():
    trace = Trace()
    kept = [Intent("grade", f"grade {n}", {"netid": n, "house": "red"}) for n in "abc"]
    plan = KeptPlan(kept)
    storer = make_storer([])
    flow = AdminFlow("grades", "grade pupils", storer, "pupils")
    flow.add_propagate_step("grade", grading(trace))

    result = flow.with_config({}).run(applying=plan)

    assert result.succeeded, result.error
    assert trace.events == [("a", "b"), ("c",)]
    assert plan.heard == [(f"grade {n}", None, {"graded": "A"}) for n in "abc"]
