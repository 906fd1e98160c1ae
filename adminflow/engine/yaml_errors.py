"""Say where and why a YAML document could not be read, the same way everywhere."""

from __future__ import annotations

import yaml


def yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """Return ``(where, problem)``: `` at line L, column C`` (or ``""``) and the parser's reason."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return where, str(getattr(exc, "problem", None) or exc)
