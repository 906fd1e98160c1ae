"""The course's flow steps: import the roster, check usernames, form groups, email.

Metadata the steps publish (lists of NetIDs unless noted), read by StaffSummary:

- ImportRoster: ``roster_added``, ``roster_dropped``, ``roster_returned``,
  ``roster_updated``, ``roster_malformed`` (``"line N: reason"`` strings).
- CheckGitHubUsernames: ``usernames_missing``, ``usernames_invalid`` (enrolled only).
- AssignGroups: ``groups_formed`` (group codes), ``students_grouped`` (NetID -> code).
- RemindMissingUsernames: ``reminded``, the students it reminds (or, in a plan or
  in debug mode, would remind); the reminders go to the Tasks queue, for a worker
  to send (:mod:`.reminders`).

The two propagate steps plan intents (``plan_records`` and ``carry_out``), so
the course's flows can be planned, reviewed and approved before anyone is
emailed (``runflow roster-sync --plan``).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from adminflow import (
    AdminPropagateStep,
    AdminRecordStep,
    AdminUpdateStep,
    DropGuard,
    ExistingFile,
    Intent,
    register_step,
)

from . import emails, reminders
from .emails import ReminderPayload
from .github import is_valid_username, username_problem
from .grouping import group_number, place_newcomers
from .models import Section, Student
from .rosterfile import RosterExport, RosterRow, read_roster

LockedStudents = list[tuple[Student, threading.Lock]]
GetMetadata = Callable[[str], Any]
SetMetadata = Callable[[str, Any], None]


class StepLogger(Protocol):
    """The logger adminflow hands a step: ``logger(msg)`` logs at INFO."""

    def __call__(self, message: object) -> None: ...
    def warning(self, message: object) -> None: ...
    def error(self, message: object) -> None: ...


class RosterError(Exception):
    """Raise when a roster export must not be imported; nothing is stored."""


class ReminderError(Exception):
    """A reminder that could not be sent (or queued); its student stays due."""


def _netids(students: list[Student]) -> list[str]:
    return sorted(student.netid for student in students)


@register_step
class ImportRoster(AdminRecordStep[Student]):
    description = (
        "Read the registrar's roster export (CSV: NetID, Name, Email, Section[, GitHub]); "
        "add new students, mark missing ones dropped, re-enrol returning ones."
    )
    config_types = [
        (
            "path",
            ExistingFile,
            "the roster CSV; a relative path is taken from the working directory",
        ),
        DropGuard.config,
        (
            "skip_malformed_rows",
            bool,
            "import the good rows when some rows are malformed (each is still reported); "
            "when false, any malformed row stops the run and nothing is stored",
            False,
        ),
    ]

    def validate(self) -> None:
        if not self.configs.path.strip():
            raise ValueError("path must name the roster CSV file")
        DropGuard(self.configs.max_drop_share)

    def new_records(
        self, curr_records: list[Student], logger: StepLogger, set_metadata: SetMetadata
    ) -> list[Student]:
        sections = {section.code: section for section in Section.objects.all()}
        export = read_roster(self.configs.path, sections)
        self._report_problems(export, logger)
        by_netid = {student.netid: student for student in curr_records}
        dropped = [
            student
            for student in curr_records
            if student.is_enrolled and student.netid not in export.mentioned_netids
        ]
        self._guard_drops(export, curr_records, dropped, logger)
        added, returned, updated = [], [], []
        for row in export.rows:
            student = by_netid.get(row.netid)
            if student is None:
                added.append(self._new_student(row, sections[row.section]))
                continue
            changed = self._update_student(student, row, sections[row.section])
            if not student.is_enrolled:
                student.status = Student.Status.ENROLLED
                returned.append(student)
            elif changed:
                updated.append(student)
        for student in dropped:
            student.status = Student.Status.DROPPED
        for verb, students in [("added", added), ("dropped", dropped), ("re-enrolled", returned)]:
            for student in students:
                logger(f"{verb} {student.netid} ({student.name}, {student.section.code})")
        logger(
            f"{export.path}: {len(export.rows)} students read; {len(added)} added, "
            f"{len(dropped)} dropped, {len(returned)} re-enrolled, {len(updated)} updated"
        )
        set_metadata("roster_added", _netids(added))
        set_metadata("roster_dropped", _netids(dropped))
        set_metadata("roster_returned", _netids(returned))
        set_metadata("roster_updated", _netids(updated))
        set_metadata("roster_malformed", [str(problem) for problem in export.problems])
        return [*curr_records, *added]

    def _report_problems(self, export: RosterExport, logger: StepLogger) -> None:
        for problem in export.problems:
            logger.error(f"{export.path} {problem}")
        if export.problems and not self.configs.skip_malformed_rows:
            listed = "\n".join(f"  {problem}" for problem in export.problems)
            raise RosterError(
                f"{export.path} has {len(export.problems)} malformed row(s); nothing was "
                f"imported (fix the export, or set skip_malformed_rows to import the rest):\n"
                f"{listed}"
            )

    def _guard_drops(
        self,
        export: RosterExport,
        curr_records: list[Student],
        dropped: list[Student],
        logger: StepLogger,
    ) -> None:
        enrolled = sum(1 for student in curr_records if student.is_enrolled)
        refusal = DropGuard(self.configs.max_drop_share).refusal(
            export.path, enrolled, len(dropped)
        )
        if refusal is None:
            return
        for student in dropped:
            logger.error(f"would drop {student.netid} ({student.name})")
        raise RosterError(refusal)

    @staticmethod
    def _new_student(row: RosterRow, section: Section) -> Student:
        student = Student(
            netid=row.netid,
            name=row.name,
            email=row.email,
            section_id=section.pk,
            github_username=row.github or "",
        )
        # The section as if assigned, without the checks assigning it makes (a fifth of
        # importing a 20,000-student roster): it is a saved section of this database.
        Student.section.field.set_cached_value(student, section)
        return student

    @staticmethod
    def _update_student(student: Student, row: RosterRow, section: Section) -> bool:
        """Copy the roster's values onto ``student``; return whether any differed."""
        values = {"name": row.name, "email": row.email}
        if row.github is not None:
            values["github_username"] = row.github
        changed = student.section_id != section.pk
        if changed:
            student.section = section
        for name, value in values.items():
            if getattr(student, name) != value:
                setattr(student, name, value)
                changed = True
        return changed


@register_step
class CheckGitHubUsernames(AdminUpdateStep[Student]):
    description = "Check each GitHub username against GitHub's rules, offline, and record validity"

    def update_records(
        self,
        records: LockedStudents,
        logger: StepLogger,
        get_metadata: GetMetadata,
        set_metadata: SetMetadata,
    ) -> None:
        missing, invalid = [], []
        for student, lock in records:
            with lock:
                student.github_username_valid = is_valid_username(student.github_username)
                if student.is_enrolled and not student.github_username_valid:
                    if student.github_username:
                        invalid.append(student.netid)
                        problem = username_problem(student.github_username)
                        logger(f"{student.netid}: {problem}")
                    else:
                        missing.append(student.netid)
        logger(f"{len(missing)} enrolled students have no username, {len(invalid)} an invalid one")
        set_metadata("usernames_missing", sorted(missing))
        set_metadata("usernames_invalid", sorted(invalid))


@register_step
class AssignGroups(AdminUpdateStep[Student]):
    description = (
        "Form project groups within each section; grouped students keep their group and "
        "newcomers fill groups with room before new ones form"
    )
    config_types = [
        ("group_size", int, "the most students in one group", 4),
        ("seed", int, "the random seed; the same seed and roster give the same groups", 0),
    ]

    def validate(self) -> None:
        if self.configs.group_size < 1:
            raise ValueError(f"group_size must be at least 1, got {self.configs.group_size}")

    def update_records(
        self,
        records: LockedStudents,
        logger: StepLogger,
        get_metadata: GetMetadata,
        set_metadata: SetMetadata,
    ) -> None:
        # Returning students are placed afresh: their old seat may have been taken.
        returned = set(get_metadata("roster_returned") or ())
        taken: set[str] = set()  # every code still carried, dropped students' included
        members: dict[str, dict[str, str]] = defaultdict(dict)
        newcomers: dict[str, list[str]] = defaultdict(list)
        for student, lock in records:
            with lock:
                section, code = student.section.code, student.group_code
                taken.add(code)
                if not student.is_enrolled:
                    continue
                # A student moved to another section carries a code of the old one: regroup.
                if group_number(code, section) is not None and student.netid not in returned:
                    members[section][student.netid] = code
                else:
                    newcomers[section].append(student.netid)
        placed: dict[str, str] = {}
        for section in sorted(newcomers):
            placed |= place_newcomers(
                section,
                members[section],
                newcomers[section],
                taken,
                self.configs.group_size,
                random.Random(f"{self.configs.seed}/{section}"),
            )
        for student, lock in records:
            with lock:
                if student.netid in placed:
                    student.group_code = placed[student.netid]
                    logger(f"{student.netid} ({student.name}) joins {student.group_code}")
        formed = sorted(set(placed.values()) - taken)
        logger(f"placed {len(placed)} students; new groups: {', '.join(formed) or 'none'}")
        set_metadata("groups_formed", formed)
        set_metadata("students_grouped", dict(sorted(placed.items())))


@register_step
class RemindMissingUsernames(AdminPropagateStep[Student]):
    description = (
        "Email enrolled students who have no valid GitHub username, at most once per gap: "
        "queued for a Tasks worker, which records each email's delivery"
    )
    config_types = [
        ("min_gap_hours", float, "hours to wait before reminding the same student again", 72.0),
    ]

    def validate(self) -> None:
        if self.configs.min_gap_hours < 0:
            raise ValueError(f"min_gap_hours may not be negative, got {self.configs.min_gap_hours}")

    def is_due(self, student: Student, now: datetime) -> bool:
        return (
            student.is_enrolled
            and not student.github_username_valid
            and (
                student.last_reminded_at is None
                or now - student.last_reminded_at >= timedelta(hours=self.configs.min_gap_hours)
            )
        )

    batch_size = reminders.REMINDERS_PER_TASK
    """Reminders handed to one task (:mod:`.reminders`)."""

    def plan_records(
        self,
        records: LockedStudents,
        logger: StepLogger,
        get_metadata: GetMetadata,
        set_metadata: SetMetadata,
    ) -> list[Intent]:
        """Intend one reminder per student due one; publish who, as ``reminded``."""
        now = timezone.now()
        intents = []
        for student, lock in records:
            with lock:
                if not self.is_due(student, now):
                    continue
                problem = username_problem(student.github_username) or "it is not valid"
                params = {
                    "netid": student.netid,
                    "name": student.name,
                    "email": student.email,
                    "section": student.section.code,
                    "problem": problem,
                }
                line = f"email {student.netid} <{student.email}>"
                intents.append(Intent("remind", line, params, record=student))
        logger(f"{len(intents)} students are due a reminder")
        set_metadata("reminded", sorted(intent.params["netid"] for intent in intents))
        return intents

    def carry_out(
        self, intent: Intent, logger: StepLogger, get_metadata: GetMetadata
    ) -> dict[str, Any]:
        """Queue one reminder: a batch of one."""
        (outcome,) = self.carry_out_batch([intent], logger, get_metadata)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def carry_out_batch(
        self, intents: list[Intent], logger: StepLogger, get_metadata: GetMetadata
    ) -> list[dict[str, Any] | Exception]:
        """Hand a batch of reminders to one task; return each one's outcome.

        A reminder counts as made once queued: its student's reminder time and
        task are written down then, so the next run does not queue it again.
        Where the task ran at once (the immediate backend), a reminder it could
        not send is a failure and its student stays due; a batch the queue
        refuses fails likewise.
        """
        batch = reminders.queue_batch([cast(ReminderPayload, i.params) for i in intents])
        now = timezone.now()
        outcomes: list[dict[str, Any] | Exception] = []
        for intent in intents:
            netid, email = intent.params["netid"], intent.params["email"]
            if netid in batch.failed:
                logger.error(f"could not email {netid}: {batch.failed[netid]}")
                outcomes.append(ReminderError(batch.failed[netid]))
                continue
            if batch.sent:
                logger(f"reminded {netid} <{email}>")
            else:
                logger(f"queued a reminder to {netid} <{email}> (task {batch.task_id})")
            outcomes.append({"last_reminded_at": now, "reminder_task": batch.task_id})
        return outcomes


@register_step
class StaffSummary(AdminPropagateStep[Student]):
    description = (
        "Email the course staff (settings.COURSE_STAFF_EMAILS) what this run added, dropped, "
        "reminded and grouped; nothing is sent when nothing happened"
    )

    @staticmethod
    def groups_formed(
        students: dict[str, Student], get_metadata: GetMetadata
    ) -> list[tuple[str, list[Student]]]:
        """Return each group formed in this run, in its published order, with its members.

        Members are listed by NetID. One pass over the placements files every
        student under their group; scanning all placements once per group
        grows with groups x students (30 s and more at 20,000 students).
        """
        formed = get_metadata("groups_formed") or ()
        members: dict[str, list[Student]] = {code: [] for code in formed}
        for netid, code in sorted((get_metadata("students_grouped") or {}).items()):
            if code in members:
                members[code].append(students[netid])
        return [(code, members[code]) for code in formed]

    def plan_records(
        self, records: LockedStudents, logger: StepLogger, get_metadata: GetMetadata
    ) -> list[Intent]:
        """Intend the summary email, written now: the plan shows exactly what will be sent."""
        students: dict[str, Student] = {}
        enrolled: Counter[str] = Counter()
        for student, lock in records:
            with lock:
                students[student.netid] = student
                if student.is_enrolled:
                    enrolled[student.section.code] += 1

        def named(key: str) -> list[Student]:
            return [students[netid] for netid in get_metadata(key) or () if netid in students]

        missing, invalid = get_metadata("usernames_missing"), get_metadata("usernames_invalid")
        summary = emails.RunSummary(
            added=named("roster_added"),
            dropped=named("roster_dropped"),
            returned=named("roster_returned"),
            malformed=list(get_metadata("roster_malformed") or ()),
            reminded=named("reminded"),
            groups_formed=self.groups_formed(students, get_metadata),
            usernames_missing=None if missing is None else len(missing),
            usernames_invalid=None if invalid is None else len(invalid),
            enrolled_by_section=sorted(enrolled.items()),
        )
        if not summary.has_news():
            logger("nothing changed; no summary sent")
            return []
        recipients = list(getattr(settings, "COURSE_STAFF_EMAILS", []))
        if not recipients:
            logger.warning("settings.COURSE_STAFF_EMAILS is empty; no summary sent")
            return []
        message = emails.staff_summary(summary, recipients)
        params = {"to": recipients, "subject": message.subject, "text": message.body}
        return [Intent("email", f"email {', '.join(recipients)}: {message.subject}", params)]

    def carry_out(self, intent: Intent, logger: StepLogger, get_metadata: GetMetadata) -> None:
        params = intent.params
        EmailMessage(params["subject"], params["text"], to=params["to"]).send()
        logger(f"summary sent to {', '.join(params['to'])}: {params['subject']}")
