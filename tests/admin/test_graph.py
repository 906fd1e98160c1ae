"""The DAG picture: nodes, edges, escaping, status classes and size, read from the SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.utils.safestring import SafeString

from adminflow.admin.graph import (
    NODES_PER_ROW,
    WIDTH,
    GraphStep,
    flow_graph_svg,
    graph_steps_of_flow,
    graph_steps_of_step_runs,
    status_class,
)
from adminflow.registry import flow_registry
from tests.factories import FlowRunFactory, StepRunFactory

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """Return the picture as XML: it must be well-formed to be inline SVG at all."""
    return ET.fromstring(svg)


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-step"): g for g in root.iter(f"{SVG}g") if g.get("data-step") is not None}


def edges(root: ET.Element, kind: str) -> list[tuple[str | None, str | None]]:
    return [
        (path.get("data-from"), path.get("data-to"))
        for path in root.iter(f"{SVG}path")
        if kind in (path.get("class") or "").split()
    ]


def classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


NUMBERS_STEPS = [
    GraphStep("add", "record"),
    GraphStep("more", "record"),
    GraphStep("double", "update"),
    GraphStep("increment", "update", ["double"]),
    GraphStep("sum", "update", ["double", "increment"]),
    GraphStep("total", "propagate"),
]


def test_one_node_per_step_and_one_arrow_per_dependency() -> None:
    root = parse(flow_graph_svg(NUMBERS_STEPS))

    assert list(nodes(root)) == ["add", "more", "double", "increment", "sum", "total"]
    assert edges(root, "dependency") == [
        ("double", "increment"),
        ("double", "sum"),
        ("increment", "sum"),
    ]
    assert edges(root, "chain") == [("add", "more")]


def test_three_phase_bands_in_run_order_even_when_a_phase_is_empty() -> None:
    root = parse(flow_graph_svg([GraphStep("only", "update")]))

    bands = [g for g in root.iter(f"{SVG}g") if "band" in classes(g)]
    assert [sorted(classes(band) - {"band"}) for band in bands] == [
        ["band-record"],
        ["band-update"],
        ["band-propagate"],
    ]
    assert "no steps" in ET.tostring(bands[0], encoding="unicode")
    assert "no steps" not in ET.tostring(bands[1], encoding="unicode")


def test_layers_follow_the_longest_path() -> None:
    root = parse(flow_graph_svg(NUMBERS_STEPS))

    def top(name: str) -> float:
        return float(nodes(root)[name].find(f"{SVG}rect").get("y"))

    # sum depends on double directly and through increment: it sits below both.
    assert top("double") < top("increment") < top("sum")
    # Record steps form a chain on one row; update steps come below them.
    assert top("add") == top("more") < top("double")
    assert top("sum") < top("total")


def test_dependencies_of_another_kind_unknown_names_and_cycles_are_drawn_not_refused() -> None:
    steps = [
        GraphStep("a", "update", ["b"]),
        GraphStep("b", "update", ["a"]),
        GraphStep("c", "update", ["nowhere", "p"]),
        GraphStep("p", "propagate"),
    ]

    root = parse(flow_graph_svg(steps))

    assert set(nodes(root)) == {"a", "b", "c", "p"}
    assert sorted(edges(root, "dependency")) == [("a", "b"), ("b", "a")]


def test_names_and_statuses_are_escaped() -> None:
    steps = [
        GraphStep("<script>alert(1)</script>", "update", status="failed"),
        GraphStep('x" onmouseover="alert(1)', "propagate", status='"><script>'),
    ]

    svg = flow_graph_svg(steps)

    assert isinstance(svg, SafeString)
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert 'onmouseover="' not in svg
    root = parse(svg)
    assert set(nodes(root)) == {"<script>alert(1)</script>", 'x" onmouseover="alert(1)'}
    # A status that is no plain name never reaches the class attribute.
    assert "status-unknown" in classes(nodes(root)['x" onmouseover="alert(1)'])


def test_status_classes_colour_nodes_and_excluded_steps_are_dashed() -> None:
    steps = [
        GraphStep("r", "record", status="succeeded"),
        GraphStep("u", "update", status="upstream_failed"),
        GraphStep("v", "update", status="excluded", mode="exclude"),
        GraphStep("p", "propagate", mode="debug"),
        GraphStep("q", "propagate", mode="exclude"),
    ]

    root = parse(flow_graph_svg(steps))

    found = nodes(root)
    assert "status-succeeded" in classes(found["r"])
    assert "status-upstream_failed" in classes(found["u"])
    assert not any(c.startswith("status-") for c in classes(found["p"]))
    assert "debug" in classes(found["p"])
    dashed = {name for name, g in found.items() if g.find(f"{SVG}rect").get("stroke-dasharray")}
    assert dashed == {"v", "q"}
    assert {name for name, g in found.items() if "excluded" in classes(g)} == {"v", "q"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("running", "status-running"),
        ("upstream_failed", "status-upstream_failed"),
        (None, "status-unknown"),
        ("", "status-unknown"),
        ("Failed", "status-unknown"),
        ("x y", "status-unknown"),
    ],
)
def test_status_class(status: str | None, expected: str) -> None:
    assert status_class(status) == expected


def shown_lines(node) -> list[str]:
    return [line.text for line in node.find(f"{SVG}text").iter(f"{SVG}tspan")]


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("remind-missing-usernames", ["remind-missing-", "usernames"]),
        ("check-usernames", ["check-usernames"]),
        ("github_onboarding.invite", ["github_onboarding.", "invite"]),
        ("a" * 30, ["a" * 22, "a" * 8]),
    ],
)
def test_a_long_name_is_shown_whole_over_two_lines(name: str, lines: list[str]) -> None:
    root = parse(flow_graph_svg([GraphStep(name, "update", status="succeeded")]))

    node = nodes(root)[name]
    assert shown_lines(node) == lines
    assert node.find(f"{SVG}text[@class='node-status']").text == "succeeded"


def test_a_name_too_long_for_two_lines_ends_in_an_ellipsis_and_is_whole_in_its_tooltip() -> None:
    name = "check-the-github-usernames-of-every-student-in-every-section"

    root = parse(flow_graph_svg([GraphStep(name, "update")]))

    node = nodes(root)[name]
    assert shown_lines(node) == ["check-the-github-", "usernames-of-every-st…"]
    assert name in node.find(f"{SVG}title").text


def test_a_thousand_step_flow_renders_in_bounded_size() -> None:
    steps = [GraphStep(f"record-{i}", "record") for i in range(200)]
    steps += [
        GraphStep(f"update-{i}", "update", [f"update-{i - 1}"] if i % 10 else [])
        for i in range(600)
    ]
    steps += [GraphStep(f"propagate-{i}", "propagate") for i in range(200)]

    svg = flow_graph_svg(steps)

    root = parse(svg)
    assert len(nodes(root)) == 1000
    assert len(edges(root, "dependency")) == 540
    assert len(edges(root, "chain")) == 199
    # Wide layers wrap, so the width never grows; the text stays under 1 KB a step.
    assert float(root.get("width")) == WIDTH
    assert len(svg) < 1000 * 1024
    row_tops = {float(rect.get("y")) for rect in root.iter(f"{SVG}rect")}
    assert len(row_tops) < 1000 // NODES_PER_ROW + 20


def test_each_picture_has_its_own_arrow_marker() -> None:
    first, second = flow_graph_svg(NUMBERS_STEPS), flow_graph_svg(NUMBERS_STEPS)

    ids = [re.search(r'marker id="([^"]+)"', svg).group(1) for svg in (first, second)]
    assert ids[0] != ids[1]
    assert f"url(#{ids[1]})" in second


def test_steps_of_a_registered_flow_with_modes_from_a_config() -> None:
    flow = flow_registry["numbers"]

    steps = graph_steps_of_flow(flow, {"increment-mode": "exclude", "total-mode": 3})

    assert steps == [
        GraphStep("add", "record", ()),
        GraphStep("double", "update", ()),
        GraphStep("increment", "update", ("double",), mode="exclude"),
        GraphStep("total", "propagate", ()),
    ]


@pytest.mark.django_db
def test_steps_of_a_run_carry_their_statuses() -> None:
    run = FlowRunFactory()
    StepRunFactory(run=run, name="b", kind="update", depends_on=["a"], status="failed")
    StepRunFactory(run=run, name="a", kind="update", status="succeeded", mode="debug")

    steps = graph_steps_of_step_runs(run.steps.order_by("position"))

    assert steps == [
        GraphStep("b", "update", ("a",), status="failed", mode="include"),
        GraphStep("a", "update", (), status="succeeded", mode="debug"),
    ]
