"""Config keys naming a file that must exist, a step's own refusals, and template placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adminflow import AdminFlow, ExistingFile, FlowConfigError

from .helpers import make_storer, record_step, refusing, update_step

pytestmark = pytest.mark.timeout(30)


def reading_flow() -> AdminFlow:
    flow = AdminFlow("reader", "reads an export", make_storer([]), "records")
    flow.add_record_step(
        "import",
        record_step(config_types=[("path", ExistingFile, "the export"), ("limit", int, "max")]),
    )
    return flow


def problems_of(flow: AdminFlow, config: dict) -> dict[str, str]:
    with pytest.raises(FlowConfigError) as caught:
        flow.with_config(config)
    return {problem.path: problem.message for problem in caught.value.problems}


def test_a_file_key_takes_a_path_to_a_file_and_gives_the_step_plain_text(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("netid\n")

    configured = reading_flow().with_config({"import": {"path": str(export), "limit": 1}})

    path = configured.configs["import"].path
    assert path == str(export)
    assert type(path) is str


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nowhere.csv", "no file at 'nowhere.csv' (relative to {cwd})"),
        ("{tmp}", "'{tmp}' is a directory, not a file"),
        ("  ", "expected the path of a file, got an empty string"),
        (5, "expected file, got int 5"),
    ],
)
def test_a_path_that_names_no_file_is_refused_when_the_config_is_checked(tmp_path, given, message):
    given = given.format(tmp=tmp_path) if isinstance(given, str) else given

    problems = problems_of(reading_flow(), {"import": {"path": given, "limit": 1}})

    assert problems == {"import.path": message.format(cwd=Path.cwd(), tmp=tmp_path)}


def test_an_excluded_step_may_name_a_file_that_does_not_exist():
    configured = reading_flow().with_config(
        {"import-mode": "exclude", "import": {"path": "gone.csv"}}
    )

    assert configured.steps["import"].instance is None


def test_a_file_key_is_described_with_its_type():
    assert reading_flow().describe_config()["import"]["path"] == "(file) the export"


def test_a_refusal_of_a_steps_own_check_is_its_own_words_naming_the_step():
    flow = AdminFlow("strict", "d", make_storer([]), "records")
    flow.add_update_step("ping", update_step(validate=refusing("no smtp host configured")))
    flow.add_update_step("pong", update_step(validate=lambda step: False))

    problems = problems_of(flow, {})

    assert problems == {
        "ping": "no smtp host configured",
        "pong": "these values were refused by the section's own checks",
    }


def test_the_template_validates_as_printed_but_for_its_placeholders(tmp_path):
    flow = reading_flow()
    template = yaml.safe_load(flow.emit_config())

    assert template["import"] == {"path": "<fill in: file>", "limit": "<fill in: int>"}
    assert problems_of(flow, template) == {
        "import.path": "still the template's placeholder: fill in (file) the export",
        "import.limit": "still the template's placeholder: fill in (int) max",
    }
    export = tmp_path / "export.csv"
    export.write_text("")
    template["import"] = {"path": str(export), "limit": 3}
    assert flow.with_config(template).configs["import"].limit == 3


def test_a_template_without_required_keys_validates_as_printed():
    flow = AdminFlow("plain", "d", make_storer([]), "records")
    flow.add_update_step("count", update_step(config_types=[("limit", int, "max", 10)]))

    assert flow.with_config(yaml.safe_load(flow.emit_config())).configs["count"].limit == 10
