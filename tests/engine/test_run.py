"""A successful run: phases, ordering, concurrency, records and the result.

Concurrency is proven with Barriers and Events: a test that needs two steps
to overlap only passes if they really do, and never depends on timing.
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime

import pytest

from adminflow import AdminFlow, RecordStorer, RunStatus, StepKind, StepMode
from adminflow.engine import runner

from .helpers import WAIT, Trace, make_storer, propagate_step, record_step, tracing, update_step

pytestmark = pytest.mark.timeout(30)

LOCK_TYPE = type(threading.Lock())


def test_a_run_loads_runs_each_phase_and_stores_the_final_records(flow, storer, trace):
    def add_four(call):
        trace.add("record")
        return [*call.records, 4]

    def double(call):
        trace.add("update")
        for index, (record, lock) in enumerate(call.records):
            with lock:
                call.records[index] = (record * 2, lock)

    flow.add_record_step("add", record_step(add_four))
    flow.add_update_step("double", update_step(double))
    flow.add_propagate_step("look", propagate_step(tracing(trace, "propagate")))

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED
    assert result.succeeded
    assert result.error is None
    assert trace.events == ["record", "update", "propagate"]
    assert (result.records_in, result.records_out) == (3, 4)
    assert result.stored is True
    assert storer.box.stored == [[2, 4, 6, 8]]
    assert storer.box.loads == 1


def test_a_flow_without_steps_stores_what_it_loaded(flow, storer):
    result = flow.run()

    assert result.succeeded
    assert storer.box.stored == [[1, 2, 3]]


def test_each_run_starts_from_what_the_last_run_stored(flow, storer):
    def increment(call):
        for index, (record, lock) in enumerate(call.records):
            with lock:
                call.records[index] = (record + 1, lock)

    flow.add_update_step("inc", update_step(increment))

    flow.run()
    second = flow.run()

    assert storer.box.stored == [[2, 3, 4], [3, 4, 5]]
    assert second.steps["inc"].status == "succeeded"


# record steps


def test_record_steps_run_serially_in_insertion_order_each_seeing_the_last(flow):
    seen = {}

    def appender(name):
        def fn(call):
            seen[name] = list(call.records)
            return [*call.records, name]

        return fn

    for name in ("zulu", "alpha", "mike"):
        flow.add_record_step(name, record_step(appender(name)))
    flow.config({"num_threads": 4})

    result = flow.run()

    assert seen == {
        "zulu": [1, 2, 3],
        "alpha": [1, 2, 3, "zulu"],
        "mike": [1, 2, 3, "zulu", "alpha"],
    }
    assert result.records_out == 6


def test_record_steps_may_drop_records(flow, storer):
    flow.add_record_step("drop-odd", record_step(lambda call: [r for r in call.records if r % 2]))

    result = flow.run()

    assert (result.records_in, result.records_out) == (3, 2)
    assert storer.box.stored == [[1, 3]]


def test_an_excluded_record_step_is_left_out_of_the_chain(flow):
    flow.add_record_step("one", record_step(lambda call: [*call.records, "one"]))
    flow.add_record_step("two", record_step(lambda call: [*call.records, "two"]))
    flow.add_record_step("three", record_step(lambda call: [*call.records, "three"]))
    flow.config({"two-mode": "exclude"})

    result = flow.run()

    assert result.steps["two"].status == "excluded"
    assert result.records_out == 5
    assert flow.record_storer_type.box.stored == [[1, 2, 3, "one", "three"]]


# update and propagate phases as DAGs


def test_update_steps_run_after_every_record_step_and_before_any_propagate_step(flow, trace):
    flow.add_record_step("r1", record_step(tracing(trace, "r1")))
    flow.add_update_step("u1", update_step(tracing(trace, "u1")))
    flow.add_update_step("u2", update_step(tracing(trace, "u2")))
    flow.add_propagate_step("p1", propagate_step(tracing(trace, "p1")))
    flow.add_propagate_step("p2", propagate_step(tracing(trace, "p2")))
    flow.add_record_step("r2", record_step(tracing(trace, "r2")))
    flow.config({"num_threads": 4})

    flow.run()

    events = trace.events
    assert events[:2] == ["r1", "r2"]
    assert set(events[2:4]) == {"u1", "u2"}
    assert set(events[4:]) == {"p1", "p2"}


@pytest.mark.parametrize("kind", ["update", "propagate"])
def test_independent_steps_of_a_phase_run_at_the_same_time(flow, kind):
    barrier = threading.Barrier(2, timeout=WAIT)
    make = update_step if kind == "update" else propagate_step
    add = getattr(flow, f"add_{kind}_step")
    add("left", make(lambda call: barrier.wait()))
    add("right", make(lambda call: barrier.wait()))
    flow.config({"num_threads": 2})

    result = flow.run()

    assert result.steps["left"].status == "succeeded", result.steps["left"].error
    assert result.steps["right"].status == "succeeded", result.steps["right"].error


def test_a_dependent_step_starts_only_after_its_dependencies_finished(flow, trace):
    seen_at_start = {}

    def step(name):
        def fn(call):
            seen_at_start[name] = set(trace.events)
            trace.add(name)

        return fn

    #   a -> b -> d,  a -> c -> d
    flow.add_update_step("a", update_step(step("a")))
    flow.add_update_step("b", update_step(step("b")), depends_on=["a"])
    flow.add_update_step("c", update_step(step("c")), depends_on=["a"])
    flow.add_update_step("d", update_step(step("d")), depends_on=["b", "c"])
    flow.add_propagate_step("p", propagate_step(step("p")))
    flow.add_propagate_step("q", propagate_step(step("q")), depends_on=["p"])
    flow.config({"num_threads": 4})

    assert flow.run().succeeded
    assert seen_at_start["b"] >= {"a"}
    assert seen_at_start["c"] >= {"a"}
    assert seen_at_start["d"] >= {"a", "b", "c"}
    assert seen_at_start["q"] >= {"p"}


def test_a_step_starts_as_soon_as_its_dependency_is_done_and_a_thread_is_free(flow):
    """``slow`` cannot finish until ``after-quick`` starts, so phases must not go in waves."""
    after_quick_started = threading.Event()

    def slow(call):
        if not after_quick_started.wait(WAIT):
            raise AssertionError("after-quick did not start while slow was running")

    flow.add_update_step("quick", update_step())
    flow.add_update_step("slow", update_step(slow))
    flow.add_update_step(
        "after-quick", update_step(lambda call: after_quick_started.set()), depends_on=["quick"]
    )
    flow.config({"num_threads": 2})

    result = flow.run()

    assert result.succeeded, result.steps["slow"].error


def test_an_excluded_dependency_counts_as_complete(flow, trace):
    built = Trace()
    flow.add_update_step("off", update_step(validate=lambda step: built.add("off")))
    flow.add_update_step("on", update_step(tracing(trace, "on")), depends_on=["off"])
    flow.add_propagate_step("p-off", propagate_step())
    flow.add_propagate_step("p-on", propagate_step(tracing(trace, "p-on")), depends_on=["p-off"])
    flow.config({"off-mode": "exclude", "p-off-mode": "exclude"})

    result = flow.run()

    assert result.succeeded
    assert trace.events == ["on", "p-on"]
    assert result.steps["off"].status == "excluded"
    assert result.steps["p-off"].status == "excluded"
    assert result.steps["off"].started_at is None
    assert built.events == []


def test_excluding_a_middle_step_keeps_the_wait_for_what_it_depended_on(flow, trace):
    release_first = threading.Event()

    def first(call):
        assert release_first.wait(WAIT)
        trace.add("first")

    def last(call):
        trace.add("last")

    flow.add_update_step("first", update_step(first))
    flow.add_update_step("middle", update_step(), depends_on=["first"])
    flow.add_update_step("last", update_step(last), depends_on=["middle"])
    flow.add_update_step("other", update_step(lambda call: release_first.set()))
    flow.config({"num_threads": 3, "middle-mode": "exclude"})

    result = flow.run()

    assert result.succeeded
    assert trace.events.index("first") < trace.events.index("last")
    assert flow._configured.phase_graph(StepKind.UPDATE)["last"] == ("first",)


def test_one_thread_runs_every_step_on_the_same_worker(flow, trace):
    def note(call):
        trace.add(threading.get_ident())

    flow.add_update_step("a", update_step(note))
    flow.add_update_step("b", update_step(note))
    flow.add_update_step("c", update_step(note))
    flow.add_propagate_step("p", propagate_step(note))
    flow.add_propagate_step("q", propagate_step(note))
    flow.config({"num_threads": 1})

    assert flow.run().succeeded
    assert len(set(trace.events)) == 1
    assert trace.events[0] != threading.get_ident()


def test_worker_threads_are_named_after_the_step_they_run(flow):
    names = {}

    def note(name):
        def fn(call):
            names[name] = threading.current_thread().name

        return fn

    flow.add_record_step("import-roster", record_step(note("import-roster")))
    flow.add_update_step("check-usernames", update_step(note("check-usernames")))
    flow.add_propagate_step("ping-missing", propagate_step(note("ping-missing")))

    assert flow.run().succeeded
    for step, thread_name in names.items():
        assert step in thread_name
    assert len(names) == 3


# records as (record, lock) and the shared list


def test_a_phase_shares_one_list_of_record_and_lock_tuples(flow):
    lists = {}
    barrier = threading.Barrier(2, timeout=WAIT)

    def keep(name):
        def fn(call):
            lists[name] = call.records
            barrier.wait()

        return fn

    flow.add_update_step("u1", update_step(keep("u1")))
    flow.add_update_step("u2", update_step(keep("u2")))
    flow.add_propagate_step("p1", propagate_step(keep("p1")))
    flow.add_propagate_step("p2", propagate_step(keep("p2")))
    flow.config({"num_threads": 2})

    assert flow.run().succeeded
    assert lists["u1"] is lists["u2"]
    assert lists["p1"] is lists["p2"]
    assert isinstance(lists["u1"], list)
    for entries in (lists["u1"], lists["p1"]):
        assert [record for record, _lock in entries] == [1, 2, 3]
        assert all(isinstance(entry, tuple) and len(entry) == 2 for entry in entries)
        locks = [lock for _record, lock in entries]
        assert all(isinstance(lock, LOCK_TYPE) for lock in locks)
        assert len({id(lock) for lock in locks}) == 3
        assert not any(lock.locked() for lock in locks)


@pytest.fixture
def runner_locks(monkeypatch):
    """Return the list of every lock the run's own module makes while the test runs."""
    made = []
    real_lock = threading.Lock

    def lock():
        made_lock = real_lock()
        if sys._getframe(1).f_code.co_filename == runner.__file__:
            made.append(made_lock)
        return made_lock

    monkeypatch.setattr(threading, "Lock", lock)
    return made


@pytest.mark.parametrize(
    ("update", "propagate", "locks"),
    [
        ([], [], 0),
        (["u"], [], 3),
        ([], ["p"], 3),
        (["u", "v"], ["p", "q"], 6),
        (["excluded"], ["p"], 3),
    ],
)
def test_a_lock_per_record_is_made_once_for_each_phase_that_runs_a_step(
    flow, runner_locks, update, propagate, locks
):
    flow.add_record_step("r", record_step())
    for name in update:
        flow.add_update_step(name, update_step())
    for name in propagate:
        flow.add_propagate_step(name, propagate_step())
    flow.config({"excluded-mode": "exclude"} if "excluded" in update else {})

    assert flow.run().succeeded
    assert len(runner_locks) == locks


def test_phases_without_steps_leave_the_record_steps_list_as_it_is():
    """The storer gets the very list the last record step returned: nothing copied it."""
    returned, stored = [], []

    class KeepStorer(RecordStorer):
        description = "keeps the list it is given"

        def get_records(self, logger):
            return [1, 2]

        def set_records(self, rec_list, logger):
            stored.append(rec_list)

    def new_list(call):
        returned.append([*call.records, 3])
        return returned[0]

    flow = AdminFlow("records-only", "record steps alone", KeepStorer, "records")
    flow.add_record_step("add-three", record_step(new_list))

    assert flow.run().succeeded
    assert stored[0] is returned[0]


def test_a_step_may_replace_an_entry_and_the_final_entries_are_stored(flow, storer):
    replacement = {"id": 1, "new": True}
    seen = {}

    def replace_first(call):
        _old, lock = call.records[0]
        with lock:
            call.records[0] = (replacement, lock)

    def later(call):
        seen["update"] = call.records[0][0]

    def propagate(call):
        seen["propagate"] = call.records[0][0]
        del call.records[2]

    flow.add_update_step("replace", update_step(replace_first))
    flow.add_update_step("later", update_step(later), depends_on=["replace"])
    flow.add_propagate_step("drop-last", propagate_step(propagate))

    result = flow.run()

    assert seen == {"update": replacement, "propagate": replacement}
    assert storer.box.stored == [[replacement, 2]]
    assert storer.box.stored[0][0] is replacement
    assert result.records_out == 2


def test_records_changed_in_place_under_their_lock_are_stored():
    storer = make_storer([{"name": "ann"}, {"name": "bob"}])
    flow = AdminFlow("f", "d", storer)

    def tag(call):
        for record, lock in call.records:
            with lock:
                record["tagged"] = True

    def count(call):
        for record, lock in call.records:
            with lock:
                record["sent"] = record.get("sent", 0) + 1

    flow.add_update_step("tag", update_step(tag))
    flow.add_propagate_step("send", propagate_step(count))
    flow.add_propagate_step("send-again", propagate_step(count))

    assert flow.run().succeeded
    assert storer.box.stored == [
        [{"name": "ann", "tagged": True, "sent": 2}, {"name": "bob", "tagged": True, "sent": 2}]
    ]


# debug mode


def test_steps_in_debug_mode_get_debug_true_and_the_others_false(flow, trace):
    def note(name):
        return lambda call: trace.add((name, call.debug))

    flow.add_record_step("r", record_step(note("r")))
    flow.add_record_step("r-debug", record_step(note("r-debug")))
    flow.add_update_step("u", update_step(note("u")))
    flow.add_update_step("u-debug", update_step(note("u-debug")))
    flow.add_propagate_step("p", propagate_step(note("p")))
    flow.add_propagate_step("p-debug", propagate_step(note("p-debug")))
    flow.config({"r-debug-mode": "debug", "u-debug-mode": "debug", "p-debug-mode": "debug"})

    result = flow.run()

    assert set(trace.events) == {
        ("r", False),
        ("r-debug", True),
        ("u", False),
        ("u-debug", True),
        ("p", False),
        ("p-debug", True),
    }
    assert result.steps["u-debug"].mode is StepMode.DEBUG
    assert result.succeeded


def test_a_storer_in_debug_mode_writes_nothing_and_says_what_it_would_write(recorder):
    storer = make_storer([1, 2, 3])
    flow = AdminFlow("f", "d", storer, "students")
    flow.config({"students-mode": "debug"})

    result = flow.run(observers=[recorder])

    assert result.succeeded
    assert result.stored is False
    assert storer.box.stored == []
    assert storer.box.records == [1, 2, 3]
    (line,) = [message for step, _level, message in recorder.logs() if "would" in message]
    assert "3 records" in line
    assert ("students", 20, line) in recorder.logs()


def test_a_storer_that_accepts_debug_is_called_with_debug_true():
    storer = make_storer([1, 2, 3], takes_debug=True)
    flow = AdminFlow("f", "d", storer, "students")
    flow.add_record_step("add", record_step(lambda call: [*call.records, 4]))

    flow.config({"students-mode": "debug"})
    result = flow.run()

    assert storer.box.debug_stores == [[1, 2, 3, 4]]
    assert storer.box.stored == []
    assert result.stored is False

    flow.config({})
    flow.run()
    assert storer.box.stored == [[1, 2, 3, 4]]


# the result


def test_the_result_reports_each_step_kind_mode_status_and_times(flow):
    flow.add_record_step("r", record_step())
    flow.add_update_step("u", update_step())
    flow.add_update_step("u-off", update_step())
    flow.add_propagate_step("p", propagate_step(), depends_on=[])
    flow.add_propagate_step("p2", propagate_step(), depends_on=["p"])
    flow.config({"u-off-mode": "exclude", "p-mode": "debug"})

    result = flow.run()

    assert result.flow == "test-flow"
    assert list(result.steps) == ["r", "u", "u-off", "p", "p2"]
    summary = {n: (str(s.kind), str(s.mode), str(s.status)) for n, s in result.steps.items()}
    assert summary == {
        "r": ("record", "include", "succeeded"),
        "u": ("update", "include", "succeeded"),
        "u-off": ("update", "exclude", "excluded"),
        "p": ("propagate", "debug", "succeeded"),
        "p2": ("propagate", "include", "succeeded"),
    }
    assert result.steps["p2"].depends_on == ("p",)
    for name in ("r", "u", "p", "p2"):
        step = result.steps[name]
        assert isinstance(step.started_at, datetime)
        assert step.started_at.tzinfo is not None
        assert step.started_at <= step.finished_at
        assert step.duration >= 0
        assert step.error is None
        assert step.traceback is None
    assert result.steps["u-off"].started_at is None
    assert result.started_at <= result.finished_at
    assert result.metadata == {}
    assert [s.name for s in result.steps_with("excluded")] == ["u-off"]


def test_the_storer_gets_a_callable_logger_for_loading_and_storing(flow, recorder):
    flow.run(observers=[recorder])

    assert ("records", 20, "loading 3 records") in recorder.logs()
    assert ("records", 20, "stored 3 records") in recorder.logs()
