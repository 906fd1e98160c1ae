"""Which record each step touched: a run reports, per step, what it did to each record.

The storer here names its records (``record_key``), as DjangoRecordStorer
does; one that cannot is not traced at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from adminflow import AdminFlow, FlowObserver, RecordStorer
from adminflow.engine.tracing import RecordEffect, logged_record

from .helpers import Call, failing, propagate_step, record_step, update_step


@dataclass
class Pupil:
    netid: str
    name: str = ""
    tags: list[str] = field(default_factory=list)


class Pupils(RecordStorer[Pupil]):
    """Three pupils, named by netid; stores nothing."""

    description = "pupils"
    record_field_names = ("netid", "name", "tags")

    def get_records(self, logger: Any) -> list[Pupil]:
        return [Pupil("ana", "Ana"), Pupil("bo", "Bo"), Pupil("cy", "Cy")]

    def set_records(self, rec_list: list[Pupil], logger: Any) -> None:
        pass

    def record_key(self, record: Pupil) -> str | None:
        return record.netid

    def record_values(self, record: Pupil) -> tuple[Any, ...]:
        return (record.netid, record.name, list(record.tags))


class Unnamed(Pupils):
    """The same pupils from a storer that cannot copy their values (every storer names its
    records, for plans; only one that also copies them field by field is traced)."""

    record_values = None  # type: ignore[assignment]


class Listener(FlowObserver):
    """Keep what a run reports of records: effects per step, and each line's record."""

    def __init__(self) -> None:
        self.effects: dict[str, list[RecordEffect]] = {}
        self.lines: list[tuple[str | None, str, str | None]] = []
        self._lock = threading.Lock()

    def step_records(self, flow: str, step: Any, effects: Any) -> None:
        with self._lock:
            self.effects[step.name] = sorted(effects, key=lambda effect: effect.key)

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        with self._lock:
            self.lines.append((step, message, logged_record()))


def rename(call: Call) -> None:
    for pupil, lock in call.records:
        if pupil.netid == "bo":
            with lock:
                pupil.name = "Bob"
                call.logger("renamed bo")


def tag(call: Call) -> None:
    for pupil, lock in call.records:
        with lock:
            if pupil.netid != "cy":
                pupil.tags.append("late")


def admit_and_expel(call: Call) -> list[Pupil]:
    call.logger("admitting dee, expelling cy (summary: ana bo)")
    call.logger("expelled cy.")
    kept = [pupil for pupil in call.records if pupil.netid != "cy"]
    kept[0].name = "Ana B."
    return [*kept, Pupil("dee", "Dee")]


def run(flow: AdminFlow) -> Listener:
    listener = Listener()
    result = flow.with_config({"num_threads": 2}).run(observers=[listener])
    assert result.error is None or result.status == "failed"
    return listener


def flow_of(storer: type = Pupils, *, trace_records: bool = True) -> AdminFlow:
    flow = AdminFlow("pupils", "pupils", storer, "pupils", trace_records=trace_records)
    flow.add_record_step("admit", record_step(admit_and_expel))
    flow.add_update_step("rename", update_step(rename))
    flow.add_update_step("tag", update_step(tag))
    return flow


def test_each_step_reports_what_it_did_to_each_record_fields_included_when_traced():
    listener = run(flow_of())

    assert listener.effects == {
        "admit": [
            RecordEffect("ana", "changed", ["name"]),
            RecordEffect("cy", "removed", lines=1),  # "expelled cy." names cy alone
            RecordEffect("dee", "added"),
        ],
        # Two update steps side by side: each change is the step's that held the lock.
        "rename": [RecordEffect("bo", "changed", ["name"], lines=1)],
        "tag": [
            RecordEffect("ana", "changed", ["tags"]),
            RecordEffect("bo", "changed", ["tags"]),
            RecordEffect("dee", "changed", ["tags"]),
        ],
    }


def test_a_line_names_the_record_its_step_holds_or_the_one_key_it_mentions():
    listener = run(flow_of())

    assert ("admit", "expelled cy.", "cy") in listener.lines
    # A line naming several records is about none of them.
    assert ("admit", "admitting dee, expelling cy (summary: ana bo)", None) in listener.lines
    # Logged while holding bo's lock: about bo, though it could name anyone.
    assert ("rename", "renamed bo", "bo") in listener.lines
    assert logged_record() is None  # only during an observer's log call


def test_without_trace_records_record_steps_still_say_what_they_added_and_removed():
    listener = run(flow_of(trace_records=False))

    assert listener.effects == {
        "admit": [RecordEffect("cy", "removed", lines=1), RecordEffect("dee", "added")],
        "rename": [RecordEffect("bo", lines=1)],  # only the line: no field diffs
    }


def test_a_storer_that_cannot_name_records_is_not_traced():
    listener = run(flow_of(Unnamed))

    assert listener.effects == {}
    assert {record for _step, _message, record in listener.lines} == {None}


def test_an_error_raised_while_a_step_holds_a_record_is_that_records_error():
    def break_on_bo(call: Call) -> None:
        for pupil, lock in call.records:
            with lock:
                if pupil.netid == "bo":
                    pupil.name = "half-done"
                    raise ValueError("bo has no email")

    flow = AdminFlow("pupils", "pupils", Pupils, "pupils", trace_records=True)
    flow.add_update_step("check", update_step(break_on_bo))
    listener = run(flow)

    assert listener.effects == {
        "check": [RecordEffect("bo", "changed", ["name"], error="ValueError: bo has no email")]
    }


def test_a_failed_record_step_reports_nothing_and_a_propagate_step_is_traced_too():
    def note(call: Call) -> None:
        for pupil, lock in call.records:
            with lock:
                pupil.tags.append("mailed")

    flow = AdminFlow("pupils", "pupils", Pupils, "pupils", trace_records=True)
    flow.add_propagate_step("mail", propagate_step(note))
    listener = run(flow)
    assert [effect.key for effect in listener.effects["mail"]] == ["ana", "bo", "cy"]

    broken = AdminFlow("pupils", "pupils", Pupils, "pupils", trace_records=True)
    broken.add_record_step("admit", record_step(failing("no roster")))
    assert run(broken).effects == {}


@pytest.mark.parametrize("trace_records", [True, False])
def test_tracing_leaves_the_records_and_the_steps_locks_working(trace_records):
    seen: list[bool] = []

    def check_lock(call: Call) -> None:
        for _pupil, lock in call.records:
            assert lock.acquire(blocking=False)
            seen.append(lock.locked())
            lock.release()

    flow = AdminFlow("pupils", "pupils", Pupils, "pupils", trace_records=trace_records)
    flow.add_update_step("check", update_step(check_lock))
    result = flow.with_config({"num_threads": 1}).run()

    assert result.status == "succeeded"
    assert seen == [True, True, True]
