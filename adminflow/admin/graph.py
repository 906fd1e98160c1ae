"""The picture of a flow's DAG: inline SVG computed in Python.

No graphviz binary and no JavaScript library: the admin must work offline
and the README must not ask for a system package. The picture has three
bands, one per phase in the order phases run. Record steps run one after
another, so they are drawn as a chain, left to right, wrapping into rows.
Update and propagate steps are laid out in layers by longest path (a step
sits one layer below its deepest dependency) with ``depends_on`` edges as
arrows; a wide layer wraps into several rows, so the picture's width is
bounded whatever the flow.

Colours come from CSS classes (``adminflow/adminflow.css``), the same
palette as the admin's status badges; the SVG itself only carries neutral
defaults, so it stays legible on a page without the stylesheet.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from ..engine import AdminFlow

PHASES = (
    ("record", "1 · Record steps, in order"),
    ("update", "2 · Update steps"),
    ("propagate", "3 · Propagate steps"),
)

NODE_WIDTH = 168
NODE_HEIGHT = 52  # two lines of a long name, and the status below them
GAP_X = 28
GAP_Y = 36
PAD = 14
BAND_LABEL_HEIGHT = 26
BAND_GAP = 12
NODES_PER_ROW = 5
NAME_CHARS = 22  # what fits in NODE_WIDTH at the 12px font the stylesheet sets
NAME_LINES = 2
LINE_HEIGHT = 14

WIDTH = 2 * PAD + NODES_PER_ROW * NODE_WIDTH + (NODES_PER_ROW - 1) * GAP_X

# Marker ids must be unique in a page that shows several pictures.
_picture_ids = itertools.count(1)


@dataclass(frozen=True)
class GraphStep:
    """One step as the picture needs it; ``status`` and ``mode`` are optional."""

    name: str
    kind: str
    depends_on: Sequence[str] = field(default=())
    status: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        # StepRun.depends_on is a JSON list: keep a hashable, immutable copy.
        object.__setattr__(self, "depends_on", tuple(self.depends_on or ()))


def status_class(status: str | None) -> str:
    """Return the CSS class of a status (``status-failed``), shared by badges and nodes.

    Anything that is not a plain status name gets ``status-unknown``, so a
    class attribute never carries arbitrary text.
    """
    if status and re.fullmatch(r"[a-z_]{1,32}", status):
        return f"status-{status}"
    return "status-unknown"


def graph_steps_of_flow(
    flow: AdminFlow, config: Mapping[str, Any] | None = None
) -> list[GraphStep]:
    """Return ``flow``'s steps for the picture, in flow order.

    With ``config`` (a stored config), each step's ``<name>-mode`` is shown,
    so an excluded step is drawn dashed.
    """
    config = config if isinstance(config, Mapping) else {}
    steps = []
    for name, entry in flow.steps.items():
        mode = config.get(f"{name}-mode")
        steps.append(
            GraphStep(
                name,
                str(entry.kind),
                entry.depends_on,
                mode=mode if isinstance(mode, str) else None,
            )
        )
    return steps


def graph_steps_of_step_runs(step_runs: Iterable[Any]) -> list[GraphStep]:
    """Return the steps of a run (``StepRun`` rows, ordered by position) with their statuses."""
    return [
        GraphStep(step.name, step.kind, step.depends_on, status=step.status, mode=step.mode)
        for step in step_runs
    ]


@dataclass
class _Node:
    step: GraphStep
    x: int = 0
    y: int = 0


def flow_graph_svg(steps: Sequence[GraphStep]) -> SafeString:
    """Return the DAG of ``steps`` as an inline ``<svg>`` element.

    Every name and status is escaped. ``depends_on`` entries that name no
    step of the same kind are ignored, and a cycle (which a valid flow
    cannot have) is drawn rather than refused: the picture must render for
    whatever a run recorded.
    """
    picture = next(_picture_ids)
    nodes: dict[str, _Node] = {}
    parts: list[str] = []
    edges: list[str] = []
    y = PAD
    for kind, label in PHASES:
        first_of_name: dict[str, GraphStep] = {}
        for step in steps:
            if step.kind == kind and step.name not in nodes:
                first_of_name.setdefault(step.name, step)
        phase = list(first_of_name.values())
        names = {step.name for step in phase}
        rows = _chain_rows(phase) if kind == "record" else _layered_rows(phase, names)
        band_height = BAND_LABEL_HEIGHT + max(len(rows), 1) * (NODE_HEIGHT + GAP_Y) - GAP_Y + PAD
        parts.append(_band(kind, label, y, band_height, empty=not phase))
        row_y = y + BAND_LABEL_HEIGHT
        for row in rows:
            x = (WIDTH - len(row) * NODE_WIDTH - (len(row) - 1) * GAP_X) // 2
            for step in row:
                nodes[step.name] = _Node(step, x, row_y)
                x += NODE_WIDTH + GAP_X
            row_y += NODE_HEIGHT + GAP_Y
        if kind == "record":
            edges += [
                _edge(nodes[a.name], nodes[b.name], "chain", picture)
                for a, b in itertools.pairwise(phase)
            ]
        else:
            edges += [
                _edge(nodes[dependency], nodes[step.name], "dependency", picture)
                for step in phase
                for dependency in _dependencies(step, names)
            ]
        y += band_height + BAND_GAP
    height = y - BAND_GAP + PAD
    parts += edges
    parts += [_node(node) for node in nodes.values()]
    header = format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="adminflow-dag" role="img" '
        'width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif" font-size="12">'
        "<title>{}</title>"
        '<defs><marker id="adminflow-arrow-{}" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" class="arrowhead" fill="#888"/></marker></defs>',
        WIDTH,
        height,
        WIDTH,
        height,
        f"The flow's steps ({len(nodes)}) in their three phases",
        picture,
    )
    # Every part was built by format_html, which escaped what it interpolated.
    return mark_safe(header + "".join(parts) + "</svg>")


def _dependencies(step: GraphStep, names: set[str]) -> list[str]:
    """Return the dependencies of ``step`` that are among ``names`` (its phase), once each."""
    return [d for d in dict.fromkeys(step.depends_on) if d in names and d != step.name]


def _chain_rows(phase: Sequence[GraphStep]) -> list[list[GraphStep]]:
    """Return record steps in reading order, ``NODES_PER_ROW`` to a row."""
    return [list(phase[i : i + NODES_PER_ROW]) for i in range(0, len(phase), NODES_PER_ROW)]


def _layered_rows(phase: Sequence[GraphStep], names: set[str]) -> list[list[GraphStep]]:
    """Return a phase's steps in rows: layers by longest path, wide layers wrapped.

    Within a layer, steps are ordered by the mean position of their
    dependencies (one barycentre pass), which removes most crossings.
    """
    order = _topological(phase, names)
    depth: dict[str, int] = {}
    for step in order:
        earlier = [depth[d] for d in _dependencies(step, names) if d in depth]
        depth[step.name] = 1 + max(earlier) if earlier else 0
    layers: list[list[GraphStep]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for step in phase:
        layers[depth[step.name]].append(step)
    position: dict[str, float] = {}
    rows: list[list[GraphStep]] = []
    for layer in layers:
        index = {step.name: i for i, step in enumerate(layer)}

        def barycentre(step: GraphStep, index: dict[str, int] = index) -> tuple[float, int]:
            placed = [position[d] for d in _dependencies(step, names) if d in position]
            mean = sum(placed) / len(placed) if placed else float(index[step.name])
            return mean, index[step.name]

        layer.sort(key=barycentre)
        for i, step in enumerate(layer):
            position[step.name] = i
        rows += _chain_rows(layer)
    return rows


def _topological(phase: Sequence[GraphStep], names: set[str]) -> list[GraphStep]:
    """Return the steps dependencies first; with a cycle, as given."""
    by_name = {step.name: step for step in phase}
    sorter = TopologicalSorter({step.name: _dependencies(step, names) for step in phase})
    try:
        return [by_name[name] for name in sorter.static_order()]
    except CycleError:
        return list(phase)


def _band(kind: str, label: str, y: int, height: int, *, empty: bool) -> str:
    band = format_html(
        '<g class="band band-{}"><rect x="2" y="{}" width="{}" height="{}" rx="8" '
        'fill="#f6f6f6" stroke="#ddd"/><text x="{}" y="{}" class="band-label" '
        'font-weight="bold" fill="#555">{}</text>',
        kind,
        y,
        WIDTH - 4,
        height,
        PAD,
        y + 17,
        label,
    )
    if empty:
        band += format_html(
            '<text x="{}" y="{}" text-anchor="middle" class="band-empty" fill="#888">'
            "no steps</text>",
            WIDTH // 2,
            y + BAND_LABEL_HEIGHT + NODE_HEIGHT // 2 + 4,
        )
    return band + "</g>"


def _node(node: _Node) -> str:
    step = node.step
    excluded = step.mode == "exclude" or step.status == "excluded"
    classes = ["node", f"kind-{step.kind}"]
    if step.status is not None:
        classes.append(status_class(step.status))
    if excluded:
        classes.append("excluded")
    if step.mode == "debug":
        classes.append("debug")
    notes = [step.status.replace("_", " ")] if step.status else []
    if step.mode == "debug":
        notes.append("debug")
    if excluded and step.status != "excluded":
        notes.append("excluded")
    subtitle = " · ".join(notes)
    lines = name_lines(step.name)
    title = f"{step.name} ({step.kind} step{', ' + subtitle if subtitle else ''})"
    centre = node.x + NODE_WIDTH // 2
    # The name's lines and the status line, centred in the box together.
    block = LINE_HEIGHT * (len(lines) + (1 if subtitle else 0))
    first_y = node.y + (NODE_HEIGHT - block) // 2 + LINE_HEIGHT - 3
    name = format_html_join(
        "",
        '<tspan x="{}" y="{}">{}</tspan>',
        ((centre, first_y + index * LINE_HEIGHT, line) for index, line in enumerate(lines)),
    )
    return format_html(
        '<g class="{}" data-step="{}"><title>{}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="#fff" stroke="#888"{}/>'
        '<text text-anchor="middle" class="node-name" fill="#222">{}</text>'
        "{}</g>",
        " ".join(classes),
        step.name,
        title,
        node.x,
        node.y,
        NODE_WIDTH,
        NODE_HEIGHT,
        mark_safe(' stroke-dasharray="5 4"') if excluded else "",
        name,
        format_html(
            '<text x="{}" y="{}" text-anchor="middle" class="node-status" '
            'font-size="10" fill="#666">{}</text>',
            centre,
            first_y + len(lines) * LINE_HEIGHT,
            subtitle,
        )
        if subtitle
        else "",
    )


_BREAKS = re.compile(r"(?<=[-_. /:])")


def name_lines(name: str) -> list[str]:
    """Return a step's name as the lines its box shows: whole, or wrapped after a ``-``,
    ``_``, ``.``, space, ``/`` or ``:``; a name too long for two lines ends in "…" (the box's
    tooltip has it whole)."""
    lines: list[str] = []
    for part in _BREAKS.split(name):
        while part:
            if lines and len(lines[-1]) + len(part) <= NAME_CHARS:
                lines[-1] += part
                part = ""
            else:
                lines.append(part[:NAME_CHARS])
                part = part[NAME_CHARS:]
    if len(lines) > NAME_LINES:
        last = "".join(lines[NAME_LINES - 1 :])
        lines = [*lines[: NAME_LINES - 1], last[: NAME_CHARS - 1] + "…"]
    return lines or [""]


def _edge(source: _Node, target: _Node, kind: str, picture: int) -> str:
    """Return an arrow from ``source`` to ``target``, curved when it changes rows."""
    if source.y == target.y:  # consecutive record steps on one row
        start = (source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2)
        end = (target.x, target.y + NODE_HEIGHT // 2)
        path = f"M{start[0]},{start[1]} L{end[0]},{end[1]}"
    else:
        start = (source.x + NODE_WIDTH // 2, source.y + NODE_HEIGHT)
        end = (target.x + NODE_WIDTH // 2, target.y)
        bend = max((end[1] - start[1]) // 2, GAP_Y // 2)
        path = (
            f"M{start[0]},{start[1]} C{start[0]},{start[1] + bend} "
            f"{end[0]},{end[1] - bend} {end[0]},{end[1]}"
        )
    return format_html(
        '<path class="edge {}" d="{}" fill="none" stroke="#888" stroke-width="1.5" '
        'marker-end="url(#adminflow-arrow-{})" data-from="{}" data-to="{}"/>',
        kind,
        path,
        picture,
        source.step.name,
        target.step.name,
    )
