"""Reference tables generated from the package itself, so the docs cannot drift from it.

- ``adminflow-settings``: every key of ``adminflow.conf.DEFAULTS`` with its
  default and the comment above it in ``adminflow/conf.py``.
- ``adminflow-command-help NAME``: a management command's ``--help``, from
  its own parser.
- ``adminflow-describe MODULE:FACTORY``: the config template of the flow the
  factory returns, as ``runflow FLOW --describe`` prints it (``emit_config()``);
  MODULE is imported from ``docs/examples/tutorial``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def settings_groups() -> list[tuple[list[tuple[str, Any]], str]]:
    """Return the settings as groups of (key, default) sharing the comment above them.

    A comment that ends in "..." runs on into the next group's, as the two
    log batching settings' comments do.
    """
    from adminflow import conf

    source = inspect.getsource(conf)
    lines = source.splitlines()
    tree = ast.parse(source)
    [node] = [
        n
        for n in tree.body
        if isinstance(n, ast.AnnAssign)
        and isinstance(n.target, ast.Name)
        and n.target.id == "DEFAULTS"
    ]
    assert isinstance(node.value, ast.Dict)
    groups: list[tuple[list[tuple[str, Any]], str]] = []
    for key_node in node.value.keys:
        assert isinstance(key_node, ast.Constant)
        key = key_node.value
        comment: list[str] = []
        row = key_node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#"):
            comment.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        entry = (key, conf.DEFAULTS[key])
        if comment:
            text = " ".join(comment)
            if groups and groups[-1][1].endswith("..."):
                keys, before = groups.pop()
                groups.append(([*keys, entry], f"{before} {text}"))
            else:
                groups.append(([entry], text))
        else:
            groups[-1][0].append(entry)
    return groups


Cell = list[nodes.Node]


def table(header: list[str], rows: list[list[Cell]]) -> nodes.table:
    """Return a docutils table: a header row of text, then rows of cells of nodes.

    Built as nodes, not parsed from text, so it renders the same in a Markdown
    (MyST) page as in reStructuredText.
    """
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=1) for _ in header]
    head = nodes.thead()
    head += _row([[nodes.paragraph(text=title)] for title in header])
    body = nodes.tbody()
    body += [_row(cells) for cells in rows]
    group += [head, body]
    result = nodes.table()
    result += group
    return result


def _row(cells: list[Cell]) -> nodes.row:
    row = nodes.row()
    for content in cells:
        entry = nodes.entry()
        entry += content
        row += entry
    return row


def literals(values: list[str]) -> Cell:
    """Return one paragraph per value, each set as code."""
    return [nodes.paragraph("", "", nodes.literal(text=value)) for value in values]


class SettingsDirective(SphinxDirective):
    """Render every ADMINFLOW setting with its default and meaning."""

    def run(self) -> list[nodes.Node]:
        rows = [
            [
                literals([key for key, _ in entries]),
                literals([repr(default) for _, default in entries]),
                [nodes.paragraph(text=comment)],
            ]
            for entries, comment in settings_groups()
        ]
        return [table(["key", "default", "meaning"], rows)]


class CommandHelpDirective(SphinxDirective):
    """Render ``manage.py NAME --help`` as the command's own parser prints it."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from django.core.management import load_command_class

        name = self.arguments[0]
        command = load_command_class("adminflow", name)
        parser = command.create_parser("manage.py", name)
        # A fixed width, so the page does not depend on the terminal that built it.
        parser.formatter_class = _fixed_width(parser.formatter_class)
        return [nodes.literal_block(text=parser.format_help().rstrip())]


def _fixed_width(formatter_class: type) -> Any:
    def formatter(prog: str) -> Any:
        return formatter_class(prog, width=88)

    return formatter


TUTORIAL = Path(__file__).resolve().parent.parent / "examples" / "tutorial"


def describe(target: str) -> str:
    """Return the config template of the flow ``MODULE:FACTORY`` builds."""
    module_name, _, factory = target.partition(":")
    if str(TUTORIAL) not in sys.path:
        sys.path.insert(0, str(TUTORIAL))
    flow = getattr(importlib.import_module(module_name), factory)()
    return str(flow.emit_config())


class DescribeDirective(SphinxDirective):
    """Render a flow's config template, as ``runflow FLOW --describe`` prints it."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        template = describe(self.arguments[0])
        block = nodes.literal_block(text=template.rstrip(), language="yaml")
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("adminflow-describe", DescribeDirective)
    app.add_directive("adminflow-settings", SettingsDirective)
    app.add_directive("adminflow-command-help", CommandHelpDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
