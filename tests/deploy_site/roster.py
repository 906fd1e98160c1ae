"""The flow of this site, built but not registered, so a test may register it for itself."""

from __future__ import annotations

from adminflow import AdminFlow
from tests.testapp.flows import add_number_steps
from tests.testapp.steps import Numbers

NAME = "course-roster"


def course_roster() -> AdminFlow:
    """Return flow ``course-roster``: the number steps, with no default config."""
    return add_number_steps(
        AdminFlow(NAME, "Needs the numbers to add, which have no default.", Numbers, "numbers")
    )
