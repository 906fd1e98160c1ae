"""The drop guard of a roster import: refuse a roster that would drop too many students.

An empty or cut-off export, a wrong course id, a term that ended: each looks
to an import like most of the course left. Every roster import (the CSV
export of the example site, Canvas's enrollments) asks the same question
before it changes anything, with the same config key, so a course reads one
rule and one message whatever its source.
"""

from __future__ import annotations

from typing import Any


class DropGuard:
    """Refuse an import that would drop more than ``max_share`` of the enrolled students.

    Raise ValueError for a share outside 0 to 1, naming the config key, so a
    step's ``validate()`` can build one to check its config.
    """

    key = "max_drop_share"
    config: tuple[Any, ...] = (
        key,
        float,
        "stop the run, storing nothing, if the roster would drop more than this share "
        "of the enrolled students (0 to 1)",
        0.2,
    )
    """The entry a roster import step puts in its ``config_types``."""

    def __init__(self, max_share: float) -> None:
        if not 0 <= max_share <= 1:
            raise ValueError(f"{self.key} must be between 0 and 1, got {max_share}")
        self.max_share = max_share

    def refusal(self, source: object, enrolled: int, dropping: int) -> str | None:
        """Return why ``source`` may not drop ``dropping`` of ``enrolled`` students, or None."""
        if not enrolled or dropping / enrolled <= self.max_share:
            return None
        return (
            f"{source} would drop {dropping} of {enrolled} enrolled students "
            f"({dropping / enrolled:.0%}), more than {self.key} {self.max_share:.0%}; nothing "
            f"was changed. An empty or cut-off export looks like this; if the drops are real, "
            f"raise {self.key} for one run."
        )
