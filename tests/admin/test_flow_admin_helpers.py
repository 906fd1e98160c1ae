"""The admin's small helpers: status badges, durations, links, YAML data and key lines."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError

from adminflow.admin.display import change_link, format_duration, status_badge
from adminflow.admin.yaml_field import YAMLField, dump_yaml, line_of, to_json
from adminflow.models import FlowRun, Record


def test_a_badge_shows_the_status_label_with_its_class() -> None:
    assert status_badge("upstream_failed") == (
        '<span class="adminflow-badge status-upstream_failed" data-status="upstream_failed">'
        "Upstream failed</span>"
    )


def test_a_badge_of_an_unknown_status_is_escaped_and_gets_the_neutral_class() -> None:
    assert status_badge("<b>odd</b>") == (
        '<span class="adminflow-badge status-unknown" data-status="&lt;b&gt;odd&lt;/b&gt;">'
        "&lt;b&gt;odd&lt;/b&gt;</span>"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (-1, "0.0s"),
        (0.04, "0.0s"),
        (0.44, "0.4s"),
        (9.94, "9.9s"),
        (10.4, "10s"),
        (59.4, "59s"),
        (59.6, "1m 00s"),
        (75, "1m 15s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (26 * 3600 + 5 * 60, "26h 05m"),
    ],
)
def test_format_duration(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_a_link_goes_to_the_change_page_on_the_given_site() -> None:
    assert change_link(admin.site, FlowRun, 7, "<run 7>") == (
        '<a href="/admin/adminflow/flowrun/7/change/">&lt;run 7&gt;</a>'
    )


def test_a_site_without_the_model_gives_plain_escaped_text() -> None:
    assert change_link(admin.AdminSite(name="bare"), Record, 7, "<record>") == "&lt;record&gt;"


def test_yaml_data_is_stored_as_json() -> None:
    field = YAMLField(required=False)

    assert field.clean("when: 2025-01-31\nat: 2025-01-31 10:00:00\nn: [1, 2.5, true, null]\n") == {
        "when": "2025-01-31",
        "at": "2025-01-31T10:00:00",
        "n": [1, 2.5, True, None],
    }
    assert field.clean("") is None
    assert field.clean("   \n") is None


def test_yaml_that_json_cannot_hold_is_refused_with_its_place() -> None:
    with pytest.raises(ValidationError) as caught:
        to_json({"a": [{"b": b"bytes"}]})

    assert caught.value.messages == [
        "a[0].b: a bytes cannot be stored; use text, numbers, booleans, lists or mappings"
    ]


def test_to_json_leaves_json_alone_and_turns_dates_into_iso_text() -> None:
    assert to_json({"d": date(2025, 1, 2), "t": datetime(2025, 1, 2, 3, 4)}) == {
        "d": "2025-01-02",
        "t": "2025-01-02T03:04:00",
    }


def test_yaml_is_loaded_safely() -> None:
    with pytest.raises(ValidationError) as caught:
        YAMLField().clean("x: !!python/object/apply:os.system ['true']\n")

    assert "could not determine a constructor" in caught.value.messages[0]


def test_dump_yaml_keeps_key_order_and_shows_nothing_for_none() -> None:
    assert dump_yaml({"b": 1, "a": {"c": [1]}}) == "b: 1\na:\n  c:\n  - 1\n"
    assert dump_yaml(None) == ""


CONFIG = """\
num_threads: 2
add:
  numbers: [1, 2]
step.with.dots:
  key: 1
"""

SPEC = """\
name: x
steps:
  - name: a
    type: A
  - name: b
    depends_on:
      - a
      - c
"""


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        (CONFIG, "num_threads", 1),
        (CONFIG, "add", 2),
        (CONFIG, "add.numbers", 3),
        (CONFIG, "add.missing", 2),
        (CONFIG, "step.with.dots.key", 5),
        (CONFIG, "nowhere", None),
        (SPEC, "steps[0].type", 4),
        (SPEC, "steps[1]", 5),
        (SPEC, "steps[1].depends_on[1]", 8),
        (SPEC, "steps[7].name", 2),
        (SPEC, "", None),
        ("a: [", "a", None),
    ],
)
def test_line_of_finds_the_key_a_problem_names(text: str, path: str, line: int | None) -> None:
    assert line_of(text, path) == line


def test_a_short_run_is_labelled_in_milliseconds_so_its_ticks_differ() -> None:
    from adminflow.admin.run_page import tick_label

    assert [tick_label(0.2 * quarter / 4, 0.2) for quarter in range(5)] == [
        "0 ms",
        "50 ms",
        "100 ms",
        "150 ms",
        "200 ms",
    ]
    assert tick_label(5.0, 10.0) == "5.0s"
