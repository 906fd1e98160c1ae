"""A step that takes time and talks, and flows of it defined as data.

The queue tests' flows live on ``Flow`` rows (a spec naming the step by its
dotted path), so the worker processes build the very same flows from the
database, with nothing registered in code.
"""

from __future__ import annotations

import time
from typing import Any

from adminflow import AdminUpdateStep

STEPS = ("first", "second")
"""The steps of a :func:`sleepy_spec` flow, ``second`` depending on ``first``."""


class SleepAndLog(AdminUpdateStep):
    description = "Sleep, then log a line, so many times: a step that takes time and talks."
    config_types = [
        ("lines", int, "how many lines to log"),
        ("pause", float, "seconds to sleep before each line"),
    ]

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        for number in range(1, self.configs.lines + 1):
            time.sleep(self.configs.pause)
            logger(f"line {number} of {self.configs.lines}")


def sleepy_spec(lines: int, pause: float) -> dict[str, Any]:
    """Return the spec of a flow whose two steps each log ``lines`` lines, ``pause`` s apart."""
    config = {"lines": lines, "pause": pause}
    return {
        "description": f"Two steps that each log {lines} lines, {pause} s apart.",
        "storer": {"type": "tests.run_helpers.LineStorer", "name": "nothing"},
        "steps": [
            {
                "name": "first",
                "type": f"{__name__}.SleepAndLog",
                "kind": "update",
                "config": config,
            },
            {
                "name": "second",
                "type": f"{__name__}.SleepAndLog",
                "kind": "update",
                "config": config,
                "depends_on": ["first"],
            },
        ],
    }
