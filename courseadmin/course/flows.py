"""The course's flows: the weekly roster sync, reminders on their own, GitHub's and Canvas's.

The roster sync and the reminders come with complete default configs that
read the bundled demo roster, so ``python manage.py runflow roster-sync``
works once ``load_demo`` has created the sections. A real course points
``import-roster.path`` at its registrar export, in the flow's stored config.

The GitHub and Canvas flows act on a real organization or course, so they have
no default config and their rows start disabled: staff store a config naming
the organization (``$GITHUB_TOKEN`` set) or the Canvas course (``$CANVAS_URL``
and ``$CANVAS_TOKEN`` set), and enable them (docs/howto/canvas.md for Canvas).
"""

from __future__ import annotations

from adminflow import AdminFlow, register_flow

from . import canvas_steps, github_steps
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
        # The roster is a few hundred students: which step changed what is worth the
        # snapshot per record a step takes (the run's student x step grid shows it).
        trace_records=True,
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


@register_flow(enabled=False)
def github_onboarding() -> AdminFlow:
    """Return ``github-onboarding``: accounts checked, invites, repositories, teams, removals.

    Disabled until staff enable it; until a config naming the organization
    and the template is stored on its row, runs of it are refused as never
    configured.
    """
    flow = AdminFlow(
        "github-onboarding",
        "Check students' GitHub accounts, invite them to the course organization, create "
        "their repositories and their groups' teams, and remove the access of those who dropped.",
        Roster,
        "roster",
    )
    flow.add_update_step("check-accounts", github_steps.CheckGitHubAccounts)
    flow.add_propagate_step("invite", github_steps.InviteStudents)
    # Access to a repository is granted to organization members and invitees alike, but
    # granting it after the invitation gives students one email, not two.
    flow.add_propagate_step("repos", github_steps.CreateStudentRepos, depends_on=["invite"])
    flow.add_propagate_step("teams", github_steps.SyncGroupTeams, depends_on=["invite"])
    flow.add_propagate_step("remove-dropped", github_steps.RemoveDroppedStudents)
    return flow


@register_flow(enabled=False)
def tag_submissions() -> AdminFlow:
    """Return ``tag-submissions``: tag every student repository at a lab's deadline."""
    flow = AdminFlow(
        "tag-submissions",
        "Tag each student's repository at the newest commit before a lab's deadline; record "
        "the commit tagged and report who had none.",
        Roster,
        "roster",
    )
    flow.add_propagate_step("tag", github_steps.TagSubmissions)
    return flow


@register_flow(enabled=False)
def canvas_roster_sync() -> AdminFlow:
    """Return ``canvas-roster-sync``: the roster-sync of a course that lives in Canvas.

    Disabled until staff enable it, and refused as never configured until a
    config naming the course, the quiz, the group set and the check-in
    assignment is stored; the CSV ``roster-sync`` stays the offline demo.
    """
    flow = AdminFlow(
        "canvas-roster-sync",
        "Bring the roster in line with the Canvas course, read GitHub usernames from a quiz, "
        "form project groups and mirror them in Canvas, remind students without a username "
        "through the Canvas inbox and grade the check-in assignment.",
        Roster,
        "roster",
    )
    flow.add_record_step("import-roster", canvas_steps.ImportCanvasRoster)
    flow.add_update_step("quiz-usernames", canvas_steps.ReadQuizUsernames)
    flow.add_update_step("check-usernames", CheckGitHubUsernames, depends_on=["quiz-usernames"])
    flow.add_update_step("assign-groups", AssignGroups)
    flow.add_propagate_step("canvas-groups", canvas_steps.SyncCanvasGroups)
    flow.add_propagate_step("remind-on-canvas", canvas_steps.RemindOnCanvas)
    flow.add_propagate_step("check-in-grades", canvas_steps.PostCheckInGrades)
    return flow
