"""Reference tables generated from the package itself, so the docs cannot drift from it.

- ``adminflow-settings``: every key of ``adminflow.conf.DEFAULTS`` with its
  default and the comment above it in ``adminflow/conf.py``.
- ``adminflow-command-help NAME``: a management command's ``--help``, from
  its own parser.
- ``adminflow-permissions``: the permissions adminflow's models add to
  Django's view/add/change/delete.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
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


def rst_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Return a list-table in reStructuredText."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append(f"   * - {row[0]}")
        out.extend(f"     - {cell}" for cell in row[1:])
    return out


class SettingsDirective(SphinxDirective):
    """Render every ADMINFLOW setting with its default and meaning."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for entries, comment in settings_groups():
            keys = " |br| ".join(f"``{key}``" for key, _ in entries)
            defaults = " |br| ".join(f"``{default!r}``" for _, default in entries)
            rows.append([keys, defaults, comment.replace("*", r"\*")])
        text = [
            ".. |br| raw:: html",
            "",
            "   <br/>",
            "",
            *rst_table(["key", "default", "meaning"], rows),
        ]
        return self.parse(text)

    def parse(self, text: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(text, source="adminflow.conf"), 0, container)
        return container.children


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


class PermissionsDirective(SphinxDirective):
    """Render the permissions adminflow's models declare beyond Django's four."""

    def run(self) -> list[nodes.Node]:
        from django.apps import apps

        rows = [
            [f"``adminflow.{codename}``", f"``{model._meta.object_name}``", name]
            for model in apps.get_app_config("adminflow").get_models()
            for codename, name in model._meta.permissions
        ]
        text = rst_table(["permission", "model", "name"], rows)
        container = nodes.container()
        self.state.nested_parse(StringList(text, source="adminflow.models"), 0, container)
        return container.children


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("adminflow-settings", SettingsDirective)
    app.add_directive("adminflow-command-help", CommandHelpDirective)
    app.add_directive("adminflow-permissions", PermissionsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
