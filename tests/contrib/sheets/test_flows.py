"""Flows whose storer is a SpreadsheetStorer: the courseflow form, debug mode, a recorded run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from adminflow import AdminFlow, FlowUpdateStep, RunStatus
from adminflow.contrib.sheets import SpreadsheetStorer
from adminflow.engine.config import MASK
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger

from .conftest import CourseSheet, StudentRecord, student


class GradeFirstThree(FlowUpdateStep[StudentRecord]):
    """Give the first three students a grade: three cells change."""

    description = "grade the first three students"
    config_types = [("grade", float, "the grade to give")]

    def update_records(
        self,
        recs: list[tuple[StudentRecord, threading.Lock]],
        log: Callable[[str], None],
        get_md: Callable[[str], Any],
        set_md: Callable[[str, object], None],
        debug: bool = False,
    ) -> None:
        for record, lock in recs[:3]:
            with lock:
                record.grade = self.configs.grade


def grading_flow(config: dict[str, Any] | None = None) -> AdminFlow:
    """Return the flow as a courseflow user writes it: the storer subscripted with its records."""
    flow = AdminFlow(
        "sheet-grades",
        "grades kept in the roster sheet",
        SpreadsheetStorer[StudentRecord],
        "roster",
        default_config=config,
    )
    flow.add_update_step("grade", GradeFirstThree)
    return flow


def test_the_generic_courseflow_form_loads_and_stores_through_its_alias(
    sheet: CourseSheet,
) -> None:
    sheet.fill([student(n) for n in range(1, 6)])
    flow = grading_flow()
    flow.config({"roster": sheet.config, "grade": {"grade": 90.0}})

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert flow.record_storer.__orig_class__ == SpreadsheetStorer[StudentRecord]
    assert [row[-1] for row in sheet.rows()[1:4]] == [90.0, 90.0, 90.0]
    assert (sheet.fake.token_requests, sheet.fake.reads, sheet.fake.writes) == (1, 2, 1)


def test_a_subclass_of_the_subscripted_storer_with_a_default_key_needs_no_credentials_config(
    sheet: CourseSheet,
) -> None:
    key_text = sheet.config["credentials"]

    class RosterSheet(SpreadsheetStorer[StudentRecord]):
        config_types = [
            (*entry[:3], key_text) if entry[0] == "credentials" else entry
            for entry in SpreadsheetStorer.config_types
        ]

    sheet.fill([student(1)])
    flow = AdminFlow("roster-sheet", "grades in the sheet", RosterSheet, "roster")
    flow.add_update_step("grade", GradeFirstThree)
    config = {k: v for k, v in sheet.config.items() if k != "credentials"}
    flow.config({"roster": config, "grade": {"grade": 64.0}})

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert sheet.rows()[1][-1] == 64.0


def test_a_key_the_record_type_lacks_is_a_config_error_of_the_flow(sheet: CourseSheet) -> None:
    flow = grading_flow()

    with pytest.raises(ValueError, match=r"roster: key: StudentRecord has no field 'x'"):
        flow.config({"roster": {**sheet.config, "key": "x"}, "grade": {"grade": 1.0}})


def test_debug_mode_makes_no_write_and_reports_what_it_would_write(sheet: CourseSheet) -> None:
    sheet.fill([student(n) for n in range(1, 6)])
    before = sheet.rows()
    flow = grading_flow()
    flow.config({"roster": sheet.config, "roster-mode": "debug", "grade": {"grade": 70.0}})

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert sheet.fake.writes == 0
    assert sheet.rows() == before
    report = result.storer_report
    assert report[0].startswith("debug: would store in worksheet 'roster'")
    assert "0 added, 3 changed, 0 removed, 2 unchanged records; 3 cells written" in report[0]
    assert "debug: would change s001 grade (G2): (empty) -> 70.0" in report


@pytest.mark.django_db(transaction=True)
def test_a_recorded_run_stores_to_the_sheet_and_records_what_it_stored(
    sheet: CourseSheet, register: Callable[[AdminFlow], AdminFlow]
) -> None:
    sheet.fill([student(n) for n in range(1, 6)])
    register(grading_flow({"roster": sheet.config, "grade": {"grade": 85.0}}))

    run = execute_run(start_run("sheet-grades", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.SUCCEEDED, run.error
    assert (run.records_loaded, run.records_changed, run.records_stored) == (5, 3, 5)
    assert "stored records in worksheet 'roster'" in run.storer_report
    assert run.config_snapshot["roster"]["credentials"] == MASK
    assert "PRIVATE KEY" not in json.dumps(run.config_snapshot)
    assert [row[-1] for row in sheet.rows()[1:4]] == [85.0, 85.0, 85.0]
    assert sheet.fake.writes == 1


def test_the_storer_imports_no_django_so_a_plain_script_can_use_it() -> None:
    code = (
        "import sys\n"
        "import adminflow.contrib.sheets\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)\n"
    )

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
