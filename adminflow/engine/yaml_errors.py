"""Say where and why a YAML document could not be read, the same way everywhere."""

from __future__ import annotations

import yaml

PLAIN_DATA = "only plain data is read: mappings, lists, text, numbers, booleans and dates"


def yaml_problem(exc: yaml.YAMLError) -> tuple[str, str]:
    """Return ``(where, problem)``: `` at line L, column C`` (or ``""``) and the parser's reason."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = str(getattr(exc, "problem", None) or exc)
    if problem.startswith("could not determine a constructor for the tag"):
        # A tag that would build a Python object (!!python/object/apply:os.system).
        problem = f"{problem} ({PLAIN_DATA})"
    return where, problem
