"""Configuring a flow: describe_config, emit_config, config() and validate()."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from adminflow import AdminFlow, FlowConfigError, Secret, StepMode

from .helpers import Trace, make_storer, propagate_step, record_step, refusing, update_step

pytestmark = pytest.mark.timeout(30)

ALL_TYPES = [
    ("count", int, "how many"),
    ("ratio", float, "a fraction"),
    ("dry", bool, "only pretend"),
    ("label", str, "a label"),
    ("since", datetime, "start of the window"),
    ("due", date, "the due date"),
    ("ids", list[int], "some ids"),
    ("names", list[str], "some names"),
    ("token", Secret, "the API token"),
]

GOOD = {
    "count": 3,
    "ratio": 0.5,
    "dry": True,
    "label": "cs101",
    "since": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    "due": date(2024, 2, 1),
    "ids": [1, 2],
    "names": ["ann", "bob"],
    "token": "tok-123",
}


def seen_configs(trace: Trace, **options):
    """Return an update step class that notes its configs each run."""
    return update_step(lambda call: trace.add(call.step.configs), **options)


# describe_config


def describe_flow(storer) -> AdminFlow:
    flow = AdminFlow("roster", "sync the roster", storer, "students")
    flow.add_record_step("import", record_step(description="import the roster"))
    flow.add_update_step(
        "check",
        update_step(
            description="check usernames",
            config_types=[("org", str, "GitHub org"), ("limit", int, "max checks", 10)],
        ),
    )
    flow.add_propagate_step("ping", propagate_step(description="email students"))
    return flow


def leaves(tree, path=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key), value


def test_describe_config_is_a_nested_dict_of_strings(storer):
    described = describe_flow(storer).describe_config()

    assert all(isinstance(value, str) for _path, value in leaves(described))
    assert set(described) == {
        "_description",
        "num_threads",
        "fail_fast",
        "time_limit",
        "students",
        "students-mode",
        "import",
        "import-mode",
        "check",
        "check-mode",
        "ping",
        "ping-mode",
    }


def test_describe_config_gives_type_and_description_of_each_key(storer):
    described = describe_flow(storer).describe_config()

    assert described["check"]["org"] == "(str) GitHub org"
    assert described["check"]["limit"] == "(int, default 10) max checks"
    assert described["num_threads"].startswith("(int, default 4)")
    assert described["fail_fast"].startswith("(bool, default False)")


def test_describe_config_has_a_description_for_the_flow_each_step_and_the_storer():
    storer = make_storer(description="rows of the Student table")
    described = describe_flow(storer).describe_config()

    assert described["_description"] == "sync the roster"
    assert described["import"]["_description"] == "import the roster"
    assert described["check"]["_description"] == "check usernames"
    assert described["ping"]["_description"] == "email students"
    assert described["students"]["_description"] == "rows of the Student table"


def test_describe_config_has_a_mode_entry_per_step_and_for_the_storer(storer):
    described = describe_flow(storer).describe_config()

    for step in ("import", "check", "ping"):
        assert described[f"{step}-mode"].startswith("(include | exclude | debug)")
    assert described["students-mode"].startswith("(include | debug)")


def test_describe_config_labels_every_supported_type(flow):
    flow.add_update_step("typed", update_step(config_types=ALL_TYPES))

    typed = flow.describe_config()["typed"]

    assert typed["count"] == "(int) how many"
    assert typed["ratio"] == "(float) a fraction"
    assert typed["dry"] == "(bool) only pretend"
    assert typed["label"] == "(str) a label"
    assert typed["since"] == "(datetime) start of the window"
    assert typed["due"] == "(date) the due date"
    assert typed["ids"] == "(list[int]) some ids"
    assert typed["names"] == "(list[str]) some names"
    assert typed["token"] == "(secret) the API token"


def test_describe_config_does_not_need_a_config(flow):
    flow.add_update_step("needs", update_step(config_types=[("org", str, "required")]))

    assert flow.describe_config()["needs"]["org"] == "(str) required"


# config(): accepting


def test_every_supported_type_reaches_the_step_as_self_configs(flow, trace):
    flow.add_update_step("typed", seen_configs(trace, config_types=ALL_TYPES))
    flow.config({"typed": GOOD})

    assert flow.run().succeeded
    (configs,) = trace.events
    assert configs.count == 3
    assert configs.ratio == 0.5
    assert configs.dry is True
    assert configs.label == "cs101"
    assert configs.since == GOOD["since"]
    assert configs.due == date(2024, 2, 1)
    assert configs.ids == [1, 2]
    assert configs.names == ["ann", "bob"]
    assert isinstance(configs.token, Secret)
    assert configs.token.reveal() == "tok-123"


def test_values_are_coerced_where_the_type_allows_it(flow, trace):
    flow.add_update_step("typed", seen_configs(trace, config_types=ALL_TYPES))
    flow.config(
        {
            "typed": {
                **GOOD,
                "ratio": 2,
                "since": "2024-01-02T03:04:05+00:00",
                "due": "2024-02-01",
                "ids": [],
            }
        }
    )
    flow.run()

    (configs,) = trace.events
    assert configs.ratio == 2.0
    assert isinstance(configs.ratio, float)
    assert configs.since == GOOD["since"]
    assert configs.due == date(2024, 2, 1)
    assert configs.ids == []


def test_defaults_fill_keys_left_out(flow, trace):
    flow.add_update_step(
        "defaults",
        seen_configs(
            trace,
            config_types=[
                ("limit", int, "max", 10),
                ("dry", bool, "pretend", False),
                ("tags", list[str], "tags", ["a"]),
                ("due", date, "due", "2024-05-01"),
            ],
        ),
    )
    flow.config({})
    flow.run()

    (configs,) = trace.events
    assert dict(configs) == {"limit": 10, "dry": False, "tags": ["a"], "due": date(2024, 5, 1)}


def test_given_values_override_defaults(flow, trace):
    flow.add_update_step("defaults", seen_configs(trace, config_types=[("limit", int, "max", 10)]))
    flow.config({"defaults": {"limit": 2}})
    flow.run()

    assert trace.events[0].limit == 2


def test_configs_are_read_only_and_name_known_keys_on_a_typo(flow, trace):
    flow.add_update_step("s", seen_configs(trace, config_types=[("limit", int, "max", 10)]))
    flow.run()
    (configs,) = trace.events

    with pytest.raises(AttributeError, match="read-only"):
        configs.limit = 3
    with pytest.raises(AttributeError, match="limit"):
        _ = configs.limt


def test_the_storer_gets_its_own_config_section():
    storer = make_storer(config_types=[("path", str, "where the records live")])
    flow = AdminFlow("f", "d", storer, "students")
    flow.config({"students": {"path": "/tmp/x.json"}})
    flow.run()

    assert storer.box.configs[0].path == "/tmp/x.json"


def test_description_keys_are_ignored_at_every_level(flow, trace):
    flow.add_update_step("s", seen_configs(trace, config_types=[("limit", int, "max")]))
    flow.config(
        {
            "_description": "copied from describe_config()",
            "s": {"_description": "also copied", "limit": 1},
            "records": {"_description": "storer"},
        }
    )

    assert flow.run().succeeded
    assert dict(trace.events[0]) == {"limit": 1}


def test_a_missing_mode_means_include(flow, trace):
    flow.add_update_step("s", update_step(lambda call: trace.add(call.debug)))
    flow.config({})
    result = flow.run()

    assert result.steps["s"].mode is StepMode.INCLUDE
    assert trace.events == [False]


def test_modes_may_be_given_as_words_or_as_step_modes(flow):
    flow.add_update_step("a", update_step())
    flow.add_update_step("b", update_step())
    flow.add_update_step("c", update_step())
    flow.config({"a-mode": "debug", "b-mode": StepMode.EXCLUDE, "c-mode": "include"})

    steps = flow.run().steps

    assert [steps[n].mode for n in "abc"] == [StepMode.DEBUG, StepMode.EXCLUDE, StepMode.INCLUDE]


def test_a_section_may_be_null_as_yaml_writes_an_empty_one(flow):
    flow.add_update_step("s", update_step(config_types=[("limit", int, "max", 1)]))

    flow.config({"s": None, "records": None})

    assert flow.run().succeeded


def test_an_excluded_step_needs_no_config_and_is_never_built(flow):
    built = Trace()

    def refuse(step):
        built.add("validate")
        raise ValueError("should not be asked")

    flow.add_update_step(
        "off", update_step(config_types=[("org", str, "required")], validate=refuse)
    )
    flow.config({"off-mode": "exclude"})

    assert flow.run().steps["off"].status == "excluded"
    assert built.events == []


# config(): refusing, all at once


@pytest.fixture
def strict_flow(storer):
    flow = AdminFlow("strict", "d", storer, "records")
    flow.add_update_step(
        "check",
        update_step(config_types=[("org", str, "GitHub org"), ("limit", int, "max")]),
    )
    flow.add_propagate_step("ping", propagate_step(validate=refusing("no smtp")))
    return flow


def test_every_problem_is_listed_in_one_error_with_its_step_and_key(strict_flow):
    with pytest.raises(FlowConfigError) as caught:
        strict_flow.config(
            {
                "num_threads": 0,
                "fail_fast": "yes",
                "records-mode": "exclude",
                "check-mode": "sometimes",
                "check": {"limit": "ten", "colour": "red"},
                "mystery": 1,
            }
        )

    problems = {p.path: p.message for p in caught.value.problems}
    message = str(caught.value)
    assert set(problems) == {
        "num_threads",
        "fail_fast",
        "records-mode",
        "check-mode",
        "check.limit",
        "check.colour",
        "check.org",
        "mystery",
        "ping",
    }
    assert "at least 1" in problems["num_threads"]
    assert "expected bool" in problems["fail_fast"]
    assert "cannot be excluded" in problems["records-mode"]
    assert "include | exclude | debug" in problems["check-mode"]
    assert "expected int" in problems["check.limit"]
    assert "unknown key" in problems["check.colour"]
    assert "missing required key" in problems["check.org"]
    assert "unknown key" in problems["mystery"]
    assert "no smtp" in problems["ping"]
    assert "9 configuration problems" in message
    for path in problems:
        assert path in message


def test_a_validate_refusal_is_reported_even_alongside_problems_elsewhere(strict_flow):
    with pytest.raises(FlowConfigError) as caught:
        strict_flow.config({"check": {"org": "o"}})

    paths = [p.path for p in caught.value.problems]
    assert paths == ["check.limit", "ping"]


def test_validate_returning_false_refuses_the_config(flow):
    flow.add_update_step(
        "limited",
        update_step(
            config_types=[("limit", int, "max")],
            validate=lambda step: step.configs.limit < 100,
        ),
    )

    flow.config({"limited": {"limit": 5}})
    with pytest.raises(
        FlowConfigError, match="limited: these values were refused by the section's own checks"
    ):
        flow.config({"limited": {"limit": 500}})


def test_validate_of_the_storer_is_run_too():
    def refuse(storer):
        raise ValueError(f"no such file {storer.configs.path}")

    storer = make_storer(config_types=[("path", str, "file")])
    storer.validate = refuse
    flow = AdminFlow("f", "d", storer, "students")

    with pytest.raises(FlowConfigError, match=r"students: .*no such file /nope"):
        flow.config({"students": {"path": "/nope"}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "expected int"),
        ("4", "expected int"),
        (2.5, "expected int"),
        (None, "expected int"),
    ],
)
def test_num_threads_must_be_a_whole_number(flow, value, expected):
    with pytest.raises(FlowConfigError, match=expected):
        flow.config({"num_threads": value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("count", True, "expected int, got bool"),
        ("count", "3", "expected int"),
        ("ratio", "0.5", "expected float"),
        ("ratio", False, "expected float"),
        ("dry", 1, "expected bool"),
        ("dry", "true", "expected bool"),
        ("label", 5, "expected str"),
        ("since", "yesterday", "ISO 8601 datetime"),
        ("since", 5, "expected datetime"),
        ("due", datetime(2024, 1, 1, tzinfo=UTC), "expected date"),
        ("due", "2024-13-45", "ISO 8601 date"),
        ("ids", [1, "2"], "item 1: expected int"),
        ("ids", 1, "expected list"),
        ("names", "ann", "expected list"),
        ("token", 12345, "expected secret"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_step_and_key(flow, key, value, expected):
    flow.add_update_step("typed", update_step(config_types=ALL_TYPES))

    with pytest.raises(FlowConfigError, match=expected) as caught:
        flow.config({"typed": {**GOOD, key: value}})

    assert [p.path for p in caught.value.problems] == [f"typed.{key}"]


def test_a_section_that_is_not_a_mapping_is_refused(flow):
    flow.add_update_step("s", update_step())

    with pytest.raises(FlowConfigError, match="s: expected a mapping"):
        flow.config({"s": ["limit", 1]})


def test_the_config_itself_must_be_a_mapping(flow):
    with pytest.raises(FlowConfigError, match="must be a mapping"):
        flow.config([("num_threads", 1)])


def test_an_excluded_step_still_has_unknown_keys_reported(flow):
    flow.add_update_step("off", update_step(config_types=[("org", str, "required")]))

    with pytest.raises(FlowConfigError, match=r"off\.orgg: unknown key"):
        flow.config({"off-mode": "exclude", "off": {"orgg": "typo"}})


def test_the_storer_may_run_in_debug_but_not_be_excluded(flow):
    flow.config({"records-mode": "debug"})
    with pytest.raises(FlowConfigError, match="records-mode: the storer cannot be excluded"):
        flow.config({"records-mode": "exclude"})


# a failed config() changes nothing


def test_a_failed_config_leaves_the_previous_config_in_use(flow, trace):
    flow.add_update_step(
        "s", seen_configs(trace, config_types=[("limit", int, "max")]), depends_on=()
    )
    flow.add_update_step("other", update_step())
    flow.config({"s": {"limit": 1}, "other-mode": "debug", "num_threads": 1})

    with pytest.raises(FlowConfigError):
        flow.config({"s": {"limit": "two"}, "other-mode": "exclude", "num_threads": 8})
    result = flow.run()

    assert trace.events[0].limit == 1
    assert result.steps["other"].mode is StepMode.DEBUG
    assert result.steps["other"].status == "succeeded"


def test_a_failed_config_does_not_build_any_step_into_use(flow, trace):
    flow.add_update_step("s", seen_configs(trace, config_types=[("limit", int, "max")]))
    flow.add_update_step("t", update_step(config_types=[("org", str, "org")]))
    flow.config({"s": {"limit": 1}, "t": {"org": "a"}})

    # s is fine this time and gets built to be validated; it must still not replace the old one.
    with pytest.raises(FlowConfigError):
        flow.config({"s": {"limit": 2}, "t": {}})
    flow.run()

    assert trace.events[0].limit == 1


def test_run_without_config_uses_the_defaults(flow, trace):
    flow.add_update_step("s", seen_configs(trace, config_types=[("limit", int, "max", 7)]))

    assert flow.run().succeeded
    assert trace.events[0].limit == 7


def test_run_without_config_refuses_when_a_key_has_no_default(flow):
    flow.add_update_step("s", update_step(config_types=[("org", str, "required")]))

    with pytest.raises(FlowConfigError, match=r"s\.org: missing required key"):
        flow.run()


# emit_config


def emit_flow(storer) -> AdminFlow:
    flow = AdminFlow("roster", "sync the roster", storer, "students")
    flow.add_record_step("import", record_step(description="import it"))
    flow.add_update_step(
        "typed",
        update_step(
            description="every type",
            config_types=[
                ("org", str, "GitHub org"),
                ("token", Secret, "API token"),
                ("limit", int, "max", 10),
                ("ratio", float, "ratio", 0.25),
                ("dry", bool, "pretend", True),
                ("word", str, "a word YAML would misread", "yes"),
                ("code", str, "digits YAML would misread", "007"),
                ("since", datetime, "since", datetime(2024, 1, 2, 3, 4, tzinfo=UTC)),
                ("due", date, "due", date(2024, 2, 1)),
                ("ids", list[int], "ids", [1, 2]),
                ("names", list[str], "names", ["x: y", "z"]),
            ],
        ),
    )
    flow.add_propagate_step("ping", propagate_step(description="email"))
    return flow


def test_emit_config_is_yaml_with_comments_and_placeholders_for_required_keys(storer):
    text = emit_flow(storer).emit_config()
    loaded = yaml.safe_load(text)

    assert text.startswith("# roster: sync the roster")
    assert "# (str) GitHub org" in text
    assert "# typed (update step): every type" in text
    assert loaded["typed"]["org"] == "<fill in: str>"
    assert loaded["typed"]["token"] == "<fill in: secret>"
    assert loaded["typed-mode"] == "include"
    assert loaded["students-mode"] == "include"
    assert loaded["num_threads"] == 4
    assert loaded["fail_fast"] is False
    assert loaded["import"] == {}


def test_emit_config_defaults_read_back_as_the_same_values(storer):
    loaded = yaml.safe_load(emit_flow(storer).emit_config())

    typed = loaded["typed"]
    assert typed["limit"] == 10
    assert typed["ratio"] == 0.25
    assert typed["dry"] is True
    assert typed["word"] == "yes"
    assert typed["code"] == "007"
    assert typed["since"] == datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
    assert typed["due"] == date(2024, 2, 1)
    assert typed["ids"] == [1, 2]
    assert typed["names"] == ["x: y", "z"]


def test_the_emitted_template_with_required_keys_filled_configures_the_flow(storer):
    flow = emit_flow(storer)
    loaded = yaml.safe_load(flow.emit_config())

    with pytest.raises(FlowConfigError, match=r"typed\.org"):
        flow.config(loaded)
    loaded["typed"]["org"] = "cs101"
    loaded["typed"]["token"] = "tok"
    flow.config(loaded)

    assert flow.run().succeeded


def test_sections_copied_from_describe_config_keep_their_description_harmlessly():
    flow = AdminFlow("f", "d", make_storer())
    flow.add_update_step("plain", update_step())
    described = flow.describe_config()
    config = {key: value for key, value in described.items() if isinstance(value, dict)}

    flow.config(config)

    assert flow.run().succeeded


def test_emit_config_survives_multi_line_descriptions(storer):
    flow = AdminFlow("multi", "first line\nsecond: line", storer, "students")
    flow.add_update_step(
        "step",
        update_step(
            description="Check usernames.\n\n    Then: tell someone.",
            config_types=[("org", str, "the org\nkey: value")],
        ),
    )

    loaded = yaml.safe_load(flow.emit_config())

    assert loaded == {
        "num_threads": 4,
        "fail_fast": False,
        "time_limit": 0.0,
        "students-mode": "include",
        "students": {},
        "step-mode": "include",
        "step": {"org": "<fill in: str>"},
    }


def test_emit_config_quotes_odd_step_names(storer):
    flow = AdminFlow("f", "d", storer)
    flow.add_update_step("check: usernames #1", update_step(config_types=[("n", int, "n", 1)]))

    loaded = yaml.safe_load(flow.emit_config())

    assert loaded["check: usernames #1"] == {"n": 1}
    assert loaded["check: usernames #1-mode"] == "include"
