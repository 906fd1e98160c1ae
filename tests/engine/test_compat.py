"""Courseflow compatibility: its class names and later signatures run unchanged.

The end-to-end test at the bottom is written the way a courseflow user writes
a flow: a file-backed storer, ``FlowRecordStep``-style classes, update steps
chained with ``depends_on`` and a propagate step that writes down what it did.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading

import pytest

from adminflow import (
    AdminFlow,
    AdminPropagateStep,
    AdminRecordStep,
    AdminUpdateStep,
    FlowConfigError,
    FlowPropagateStep,
    FlowRecordStep,
    FlowUpdateStep,
    RecordStorer,
    RunStatus,
    StepStatus,
)

from .helpers import Recorder, update_step

pytestmark = pytest.mark.timeout(30)


def test_courseflow_class_names_are_the_same_classes():
    assert FlowRecordStep is AdminRecordStep
    assert FlowUpdateStep is AdminUpdateStep
    assert FlowPropagateStep is AdminPropagateStep


def test_a_record_step_that_also_takes_get_metadata_gets_it(flow):
    seen = []

    class Seed(FlowUpdateStep):
        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            set_metadata("cutoff", 2)

    class Later(FlowRecordStep):
        def new_records(self, curr_records, logger, get_metadata, set_metadata, debug=False):
            seen.append(get_metadata("cutoff"))
            set_metadata("kept", len(curr_records))
            return curr_records

    flow.add_record_step("later", Later)
    flow.add_update_step("seed", Seed)

    result = flow.run()

    assert result.succeeded
    assert seen == [None]
    assert result.metadata == {"cutoff": 2, "kept": 3}


def test_a_propagate_step_that_also_takes_set_metadata_gets_it(flow):
    class Invite(FlowPropagateStep):
        def propagate_records(self, records, logger, get_metadata, set_metadata, debug=False):
            set_metadata("invited", len(records))

    flow.add_propagate_step("invite", Invite)

    assert flow.run().metadata == {"invited": 3}


def test_a_propagate_step_setting_an_update_steps_name_fails_naming_both(flow):
    class Count(FlowUpdateStep):
        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            set_metadata("count", 1)

    class Recount(FlowPropagateStep):
        def propagate_records(self, records, logger, get_metadata, set_metadata, debug=False):
            set_metadata("count", 2)

    flow.add_update_step("count", Count)
    flow.add_propagate_step("recount", Recount)

    error = flow.run().steps["recount"].error

    assert "'count'" in error
    assert "'recount'" in error


def test_older_steps_without_debug_or_metadata_arguments_still_run(flow, storer):
    class Oldest(AdminRecordStep):
        def new_records(self, curr_records, logger):
            logger("old style")
            return [*curr_records, 4]

    class Old(AdminUpdateStep):
        def update_records(self, records, logger):
            for index, (record, lock) in enumerate(records):
                with lock:
                    records[index] = (record * 10, lock)

    flow.add_record_step("oldest", Oldest)
    flow.add_update_step("old", Old)
    flow.config({"oldest-mode": "debug", "old-mode": "debug"})

    assert flow.run().succeeded
    assert storer.box.stored == [[10, 20, 30, 40]]


def test_a_step_taking_keyword_arguments_gets_every_argument(flow):
    seen = {}

    class Flexible(AdminUpdateStep):
        def update_records(self, records, **kwargs):
            seen.update(kwargs)

    flow.add_update_step("flexible", Flexible)
    flow.config({"flexible-mode": "debug"})
    flow.run()

    assert set(seen) == {"logger", "get_metadata", "set_metadata", "debug"}
    assert seen["debug"] is True


def test_a_step_with_an_unknown_required_keyword_argument_is_refused_at_add_time(flow):
    class Odd(AdminUpdateStep):
        def update_records(self, records, logger, *, course_id):
            pass

    with pytest.raises(FlowConfigError, match="unknown argument 'course_id'"):
        flow.add_update_step("odd", Odd)
    assert "odd" not in flow.steps


def test_a_step_with_more_required_arguments_than_any_order_is_refused_at_add_time(flow):
    class Odd(AdminUpdateStep):
        def update_records(self, records, log, get_md, set_md, debug, course_id):
            pass

    with pytest.raises(FlowConfigError, match=r"neither by name nor by position") as refused:
        flow.add_update_step("odd", Odd)
    assert "(records, logger, get_metadata, set_metadata, debug)" in str(refused.value)
    assert "odd" not in flow.steps


def test_a_seed_name_in_the_wrong_place_is_refused_rather_than_guessed(flow):
    class Odd(AdminPropagateStep):
        def propagate_records(self, records, get_metadata, log):
            pass

    with pytest.raises(FlowConfigError, match=r"Odd.propagate_records takes \(get_metadata, log\)"):
        flow.add_propagate_step("odd", Odd)


def test_a_step_with_an_unknown_optional_argument_is_accepted(flow):
    seen = []

    class Odd(AdminUpdateStep):
        def update_records(self, records, logger, verbose=False):
            seen.append(verbose)

    flow.add_update_step("odd", Odd)

    assert flow.run().succeeded
    assert seen == [False]


def test_a_step_whose_method_does_not_take_records_first_is_refused(flow):
    class KeywordsOnly(AdminPropagateStep):
        def propagate_records(self, *, records, logger):
            pass

    with pytest.raises(FlowConfigError, match="must take the records first"):
        flow.add_propagate_step("kw", KeywordsOnly)


def test_the_signature_is_read_when_the_step_is_added_not_on_each_run(flow, monkeypatch):
    calls = []

    class Step(AdminUpdateStep):
        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            pass

    class Storer(RecordStorer):
        def get_records(self, logger):
            return [1]

        def set_records(self, rec_list, logger):
            pass

    flow = AdminFlow("f", "d", Storer)
    flow.add_update_step("step", Step)
    flow.config({})
    real = inspect.signature

    def spy(target, *args, **kwargs):
        calls.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", spy)
    for _ in range(3):
        assert flow.run().succeeded

    assert calls == []


# the end-to-end courseflow-style flow


class JsonIntStorer(RecordStorer[int]):
    """Integers kept in a JSON file."""

    description = "integer records in a JSON file"
    config_types = [("path", str, "the JSON file holding the records")]

    def get_records(self, logger):
        with open(self.configs.path) as handle:
            records = json.load(handle)
        logger(f"loaded {len(records)} records from {self.configs.path}")
        return records

    def set_records(self, rec_list, logger, debug=False):
        if debug:
            logger(f"would write {rec_list} to {self.configs.path}")
            return
        with open(self.configs.path, "w") as handle:
            json.dump(rec_list, handle)


class AddRecord(FlowRecordStep[int]):
    """Append a new record unless the flow was told not to."""

    description = "append one record"
    config_types = [("value", int, "the record to append", 0)]

    def new_records(self, curr_records, logger, get_metadata, set_metadata, debug=False):
        set_metadata("added", self.configs.value)
        return [*curr_records, self.configs.value]


class Increment(FlowUpdateStep[int]):
    """Add ``by`` to every record; records are ints, so entries are replaced."""

    description = "add a number to every record"
    config_types = [("by", int, "how much to add")]
    order: list[str] = []
    order_lock = threading.Lock()

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        with self.order_lock:
            self.order.append(type(self).__name__)
        for index, (record, lock) in enumerate(records):
            with lock:
                records[index] = (record + self.configs.by, lock)


class IncrementA(Increment):
    pass


class IncrementB(Increment):
    pass


class Sum(FlowPropagateStep[int]):
    """Send the total to the outbox file; say so in debug mode instead."""

    description = "report the sum of the records"
    config_types = [("outbox", str, "file the totals are appended to")]

    def propagate_records(self, records, logger, get_metadata, set_metadata, debug=False):
        total = 0
        for record, lock in records:
            with lock:
                total += record
        set_metadata("sum", total)
        if debug:
            logger(f"would send total {total} (added {get_metadata('added')})")
            return
        with open(self.configs.outbox, "a") as handle:
            handle.write(f"{total}\n")
        logger(f"sent total {total}")


@pytest.fixture
def courseflow(tmp_path):
    records = tmp_path / "records.json"
    outbox = tmp_path / "outbox.txt"
    records.write_text(json.dumps([1, 2, 3]))
    Increment.order = []

    flow = AdminFlow("numbers", "increment and sum", JsonIntStorer, "numbers")
    flow.add_record_step("add", AddRecord)
    flow.add_update_step("inc-a", IncrementA)
    flow.add_update_step("inc-b", IncrementB, depends_on=["inc-a"])
    flow.add_propagate_step("sum", Sum)
    config = {
        "numbers": {"path": str(records)},
        "add": {"value": 10},
        "inc-a": {"by": 1},
        "inc-b": {"by": 100},
        "sum": {"outbox": str(outbox)},
    }
    return flow, config, records, outbox


def test_a_courseflow_style_flow_runs_end_to_end(courseflow):
    flow, config, records, outbox = courseflow
    flow.config(config)
    recorder = Recorder()

    result = flow.run(observers=[recorder])

    assert result.status is RunStatus.SUCCEEDED
    assert Increment.order == ["IncrementA", "IncrementB"]
    assert json.loads(records.read_text()) == [102, 103, 104, 111]
    assert outbox.read_text() == "420\n"
    assert result.metadata == {"added": 10, "sum": 420}
    assert (result.records_in, result.records_out) == (3, 4)
    assert ("sum", 20, "sent total 420") in recorder.logs()

    second = flow.run()

    assert second.succeeded
    assert json.loads(records.read_text()) == [203, 204, 205, 212, 111]
    assert outbox.read_text() == "420\n935\n"


def test_a_courseflow_style_flow_in_debug_mode_changes_nothing_outside(courseflow):
    flow, config, records, outbox = courseflow
    flow.config({**config, "numbers-mode": "debug", "sum-mode": "debug"})
    recorder = Recorder()

    result = flow.run(observers=[recorder])

    assert result.succeeded
    assert json.loads(records.read_text()) == [1, 2, 3]
    assert not outbox.exists()
    assert result.stored is False
    logs = recorder.logs()
    assert ("sum", 20, "would send total 420 (added 10)") in logs
    assert any(step == "numbers" and "would write [102, 103, 104, 111]" in m for step, _, m in logs)


def test_a_courseflow_style_flow_with_a_failing_increment_keeps_the_file(courseflow):
    flow, config, records, outbox = courseflow
    flow.add_update_step("broken", update_step(lambda call: 1 / 0), depends_on=["inc-a"])
    flow.config(config)

    result = flow.run()

    assert result.steps["broken"].status is StepStatus.FAILED
    assert "ZeroDivisionError" in result.steps["broken"].error
    assert result.steps["sum"].status is StepStatus.SKIPPED
    assert json.loads(records.read_text()) == [1, 2, 3]
    assert not outbox.exists()


# courseflow code over a plain storer: each of these was refused or ignored before


def test_an_update_step_with_its_own_parameter_names_is_called_by_position(flow):
    class Positional(AdminUpdateStep):
        def update_records(self, recs, log, get_md, set_md, debug=False):
            set_md("count", len(recs))
            log(f"read back {get_md('count')}")

    flow.add_update_step("positional", Positional)

    result = flow.run(observers=[recorder := Recorder()])

    assert result.succeeded
    assert result.metadata == {"count": 3}
    assert ("positional", 20, "read back 3") in recorder.logs()


def test_a_storer_declaring_debug_on_get_records_gets_it_in_debug_mode_only():
    loads = []

    class Loading(RecordStorer):
        def get_records(self, logger, debug=False):
            loads.append(debug)
            return [1]

        def set_records(self, rec_list, logger):
            pass

    flow = AdminFlow("loading", "d", Loading, "numbers")
    flow.config({"numbers-mode": "debug"})
    flow.run(observers=[Recorder()])
    flow.config({})
    flow.run(observers=[Recorder()])

    assert loads == [True, False]


def test_configured_is_false_until_the_flow_has_a_config(flow):
    assert flow.configured is False
    flow.config({})
    assert flow.configured is True


def test_a_run_without_observers_logs_to_the_adminflow_logger_at_named_levels(flow, caplog):
    flow.add_update_step("seed", update_step())

    with caplog.at_level(logging.DEBUG, logger="adminflow"):
        flow.run()

    names = [r.levelname for r in caplog.records if r.name == "adminflow"]
    assert names[0] == "FLOW"
    assert "STEP" in names
    assert names[-1] == "SUCCESS"
