"""The course's flows: the weekly roster sync, and reminders on their own.

Both come with complete default configs that read the bundled demo roster,
so ``python manage.py runflow roster-sync`` works once ``load_demo`` has
created the sections. A real course points ``import-roster.path`` at its
registrar export, in the flow's stored config.
"""

from __future__ import annotations

from adminflow import AdminFlow, register_flow

from .steps import (
    AssignGroups,
    CheckGitHubUsernames,
    ImportRoster,
    RemindMissingUsernames,
    StaffSummary,
)
from .storers import Roster

DEMO_ROSTER = "courseadmin/course/demo/roster-week1.csv"
"""Relative to the project root, where ``manage.py`` and the worker run."""


@register_flow
def roster_sync() -> AdminFlow:
    """Return the ``roster-sync`` flow: import, check, assign, remind, summarize."""
    flow = AdminFlow(
        "roster-sync",
        "Bring the roster in line with the registrar's export, check GitHub usernames, "
        "form project groups, remind students without a username and email staff a summary.",
        Roster,
        "roster",
        default_config={
            "num_threads": 4,
            "roster": {},
            # The registrar regenerates the export and staff cannot fix its rows, so a bad
            # row is skipped and reported (log and staff summary) rather than stopping the
            # sync; its student is never dropped for it. The drop guard still applies.
            "import-roster": {
                "path": DEMO_ROSTER,
                "max_drop_share": 0.2,
                "skip_malformed_rows": True,
            },
            "check-usernames": {},
            "assign-groups": {"group_size": 4, "seed": 2025},
            "remind-missing-usernames": {"min_gap_hours": 72.0},
            "staff-summary": {},
        },
    )
    flow.add_record_step("import-roster", ImportRoster)
    flow.add_update_step("check-usernames", CheckGitHubUsernames)
    # No depends_on: "the roster being current" is the record phase, which always ends
    # before any update step starts. Grouping needs no username check, so the two run
    # side by side, each holding a student's lock while touching its own fields.
    flow.add_update_step("assign-groups", AssignGroups)
    flow.add_propagate_step("remind-missing-usernames", RemindMissingUsernames)
    # The summary reports who was reminded, so it waits for the reminders.
    flow.add_propagate_step("staff-summary", StaffSummary, depends_on=["remind-missing-usernames"])
    return flow


@register_flow
def reminders() -> AdminFlow:
    """Return the ``reminders`` flow: check usernames and remind, between roster syncs."""
    flow = AdminFlow(
        "reminders",
        "Check GitHub usernames and remind enrolled students who have no valid one.",
        Roster,
        "roster",
        default_config={
            "num_threads": 2,
            "roster": {},
            "check-usernames": {},
            "remind-missing-usernames": {"min_gap_hours": 72.0},
        },
    )
    flow.add_update_step("check-usernames", CheckGitHubUsernames)
    flow.add_propagate_step("remind-missing-usernames", RemindMissingUsernames)
    return flow
