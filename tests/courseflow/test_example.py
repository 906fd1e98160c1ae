"""The courseflow-shaped example runs on adminflow with its import lines changed only.

Each test is one way a courseflow flow is written that adminflow once refused.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from adminflow import (
    AdminFlow,
    AdminPropagateStep,
    AdminRecordStep,
    AdminUpdateStep,
    ConfigsError,
    FlowConfigError,
    FlowObserver,
    FlowStep,
    StepMode,
    ValidConfigTypes,
)
from adminflow.engine.config import type_label
from adminflow.engine.output import FLOW, STEP, SUCCESS

from .labs import ChooseCommits, GetTagRecords, JsonFileStorer, LabTag, PushTags, Student

pytestmark = pytest.mark.timeout(30)


def tag_flow() -> AdminFlow:
    """Return the example flow, built as its script builds it, fresh for one test."""
    flow = AdminFlow("tag-labs", "tag each lab", JsonFileStorer[LabTag], "tags")
    flow.add_record_step("get-tags", GetTagRecords[LabTag])
    flow.add_update_step("choose-commits", ChooseCommits)
    flow.add_propagate_step("push-tags", PushTags)
    return flow


def stored(course) -> list[dict]:
    return json.loads(Path(course["tags"]["file_path"]).read_text())


# Subscripted generic storers and steps


def test_a_subscripted_storer_and_step_are_built_through_their_alias(course):
    flow = tag_flow()
    flow.config(course)

    assert flow.record_storer_type is JsonFileStorer
    assert flow.record_storer.__orig_class__ == JsonFileStorer[LabTag]
    assert flow.steps["get-tags"].cls is GetTagRecords
    assert flow._configured.steps["get-tags"].instance.record_type() is LabTag


def test_a_flow_of_generic_classes_runs_and_stores_records_of_the_parameter_type(course):
    flow = tag_flow()
    flow.config(course)

    result = flow.run()

    assert result.succeeded, result.error
    assert stored(course) == [
        {"netid": "ab1", "lab": "lab1", "commit": "abc-ab1", "pushed": True},
        {"netid": "cd2", "lab": "lab1", "commit": "abc-cd2", "pushed": True},
    ]


def test_a_subscripted_class_that_is_no_step_is_still_refused():
    flow = tag_flow()
    with pytest.raises(FlowConfigError, match="is not a AdminRecordStep subclass"):
        flow.add_record_step("odd", list[LabTag])


# Building from a config dict


def test_a_storer_built_from_a_config_dict_has_checked_configs(tmp_path):
    path = str(tmp_path / "students.json")
    storer = JsonFileStorer[Student]({"file_path": path})

    assert storer.configs.file_path == path
    assert storer.get_records(print) == []


def test_a_storer_built_from_a_bad_config_dict_is_refused_naming_the_class_and_key():
    with pytest.raises(ConfigsError) as refused:
        JsonFileStorer[Student]({"file_path": 3, "path": "x"})

    message = str(refused.value)
    assert message.startswith("JsonFileStorer config: 2 problems:")
    assert "JsonFileStorer.file_path: expected str, got int 3" in message
    assert "JsonFileStorer.path: unknown key (expected: file_path)" in message
    assert "courseflow ignored keys it did not know" in message
    assert isinstance(refused.value, FlowConfigError)


def test_a_step_built_from_a_config_dict_runs_its_validate():
    class Needs(AdminUpdateStep):
        config_types = [("count", int, "how many")]

        def validate(self):
            if self.configs.count < 1:
                raise ValueError("count must be positive")

        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            pass

    assert Needs({"count": 2}).configs.count == 2
    with pytest.raises(ConfigsError, match=r"Needs config: count must be positive"):
        Needs({"count": 0})


def test_a_bool_for_an_int_is_still_refused_saying_courseflow_took_it():
    class Counted(AdminUpdateStep):
        config_types = [("count", int, "how many"), ("counts", list[int], "several")]

        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            pass

    with pytest.raises(ConfigsError) as refused:
        Counted({"count": True, "counts": [1, False]})

    for key in ("Counted.count", "Counted.counts"):
        (line,) = [line for line in str(refused.value).splitlines() if key + ":" in line]
        assert "courseflow took a bool for a number" in line
    # The admin shows a problem without the note; the error's message adds it.
    assert all("courseflow" not in str(problem) for problem in refused.value.problems)


# Names courseflow code imports or uses


def test_valid_config_types_and_flow_step_are_importable_and_mean_what_they_say():
    assert all(type_label(kind) for kind in get_args(ValidConfigTypes))
    assert {int, float, bool, str, list} <= set(get_args(ValidConfigTypes))
    for kind in (AdminRecordStep, AdminUpdateStep, AdminPropagateStep):
        assert issubclass(kind, FlowStep)


def test_describe_config_is_a_class_method_of_steps_and_storers():
    assert JsonFileStorer.describe_config() == {
        "_description": "records kept in a JSON file",
        "file_path": "(str) the JSON file the records live in",
    }
    assert PushTags.describe_config()["fail"] == "(bool, default False) fail instead of pushing"
    assert GetTagRecords[LabTag].describe_config() == GetTagRecords.describe_config()
    assert tag_flow().describe_config()["tags"] == JsonFileStorer.describe_config()


def test_configured_is_a_boolean_attribute_that_becomes_true_once_configured(course):
    flow = tag_flow()
    assert flow.configured is False
    assert flow.configs == {}
    assert flow.step_modes == {}
    assert flow.record_storer is None

    flow.config({**course, "push-tags-mode": "debug"})

    assert flow.configured is True
    assert flow.step_modes == {
        "get-tags": "include",
        "choose-commits": "include",
        "push-tags": StepMode.DEBUG,
    }
    assert flow.configs["num_threads"] == 4
    assert flow.configs["get-tags"].lab == "lab1"
    assert flow.configs["push-tags"]["fail"] is False
    assert isinstance(flow.record_storer, JsonFileStorer)


def test_a_refused_config_leaves_the_flow_unconfigured(course):
    flow = tag_flow()
    with pytest.raises(FlowConfigError):
        flow.config({**course, "tags": {}})
    assert flow.configured is False


def test_the_last_runs_metadata_is_read_from_the_flow(course):
    flow = tag_flow()
    flow.config(course)
    assert flow.step_metadata == {}
    assert flow.get_metadata("new-tags") is None

    flow.run()

    assert flow.step_metadata == {"new-tags": 2, "chosen": 2}
    assert flow.get_metadata("new-tags") == 2
    assert flow.get_metadata("missing") is None


# The storer's debug flag


def test_a_storer_declaring_debug_gets_it_on_load_and_store_in_debug_mode(course):
    flow = tag_flow()
    flow.config({**course, "tags-mode": "debug", "push-tags-mode": "debug"})

    result = flow.run()

    assert result.succeeded
    assert result.stored is False
    assert not Path(course["tags"]["file_path"]).exists()
    assert result.storer_report == [
        f"debug: would write 2 records to {course['tags']['file_path']}"
    ]


def test_a_storer_in_include_mode_is_called_without_debug_and_reports_nothing(course):
    flow = tag_flow()
    flow.config(course)

    result = flow.run()

    assert result.stored is True
    assert result.storer_report == []


# Positional parameter names


def test_steps_with_their_own_parameter_names_get_each_argument_by_position(course):
    flow = tag_flow()
    flow.config(course)
    lines = []

    class Lines:
        def log(self, flow, step, level, message):
            lines.append((step, message))

        def __getattr__(self, name):
            return lambda *args: None

    result = flow.run(observers=[Lines()])

    assert result.succeeded
    assert ("get-tags", "2 new tag records") in lines
    assert ("choose-commits", "new this run: 2") in lines  # get_md read set_md's value
    assert ("push-tags", "2 tags chosen") in lines


def test_a_later_record_signature_with_its_own_names_is_matched_in_the_later_order(course):
    seen = {}

    class Later(AdminRecordStep):
        def new_records(self, recs, log, get_md, set_md, dbg=False):
            seen.update(get=get_md("nothing"), debug=dbg)
            set_md("later", True)
            return recs

    flow = AdminFlow("later", "d", JsonFileStorer[LabTag], "tags")
    flow.add_record_step("later", Later)
    flow.config({"tags": course["tags"], "later-mode": "debug"})

    assert flow.run().succeeded
    assert seen == {"get": None, "debug": True}
    assert flow.get_metadata("later") is True


# Output through logging


def test_a_run_without_observers_reports_through_the_adminflow_logger(course, caplog):
    flow = tag_flow()
    flow.config(course)

    with caplog.at_level(logging.DEBUG, logger="adminflow"):
        flow.run()

    records = [r for r in caplog.records if r.name == "adminflow"]
    levels = {r.levelname for r in records}
    assert {"FLOW", "STEP", "SUCCESS"} <= levels
    (started,) = [r for r in records if r.levelno == FLOW]
    assert (
        started.getMessage() == "[FLOW] tag-labs: started (1 record, 1 update, 1 propagate steps)"
    )
    assert started.flow == "tag-labs"
    assert started.step is None
    assert any(r.levelno == STEP and r.step == "push-tags" for r in records)
    assert records[-1].levelno == SUCCESS
    assert ("push-tags", "[push-tags] 2 tags chosen") in [(r.step, r.getMessage()) for r in records]


def test_a_run_with_observers_sends_nothing_to_the_logger(course, caplog):
    flow = tag_flow()
    flow.config(course)

    with caplog.at_level(logging.DEBUG, logger="adminflow"):
        flow.run(observers=[FlowObserver()])

    assert [r for r in caplog.records if r.name == "adminflow"] == []


def test_logfile_appends_every_line_whatever_is_printed(course, tmp_path):
    log = tmp_path / "flow.log"
    flow = tag_flow()
    flow.config(course)
    flow.silent()
    flow.logfile(log)

    flow.run()
    flow.run()

    text = log.read_text()
    assert text.count("[FLOW] tag-labs: started") == 2
    assert "[push-tags] pushed abc-ab1" in text  # a step's own line, printed only when verbose


def test_a_silent_run_with_nobody_listening_builds_no_output(tmp_path):
    """With logging unset (a plain script: its own process), no logfile and silent(),
    nobody reads a line, and none is made; a logfile or printing is someone."""
    probe = (
        "from adminflow.engine.output import FlowOutput, OutputSettings\n"
        "print(FlowOutput(OutputSettings(silent=True)).listening,"
        f" FlowOutput(OutputSettings(silent=True, logfile={str(tmp_path / 'f.log')!r})).listening,"
        " FlowOutput(OutputSettings()).listening)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True", "True"]
