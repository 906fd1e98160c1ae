"""The course's own models: sections, students and project groups.

These are the host site's models, not adminflow's. Flows reach students only
through the ``Roster`` storer; group membership is a value on the student
(``group_code``) so that an update step can form a new group by changing
students alone, and the ``Group`` rows follow from the stored codes.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Section(models.Model):
    """A lab or discussion section, as the registrar names it. Staff create these."""

    code = models.CharField(
        max_length=20, unique=True, help_text="As the roster export writes it, e.g. S01."
    )
    title = models.CharField(max_length=200, blank=True, help_text="When and where it meets.")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class StudentQuerySet(models.QuerySet["Student"]):
    def enrolled(self) -> StudentQuerySet:
        return self.filter(status=Student.Status.ENROLLED)


class Student(models.Model):
    class Status(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled"
        """On the latest roster."""
        DROPPED = "dropped", "Dropped"
        """Missing from the latest roster; kept, never deleted, so history survives."""

    netid = models.CharField("NetID", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="students")
    github_username = models.CharField(
        "GitHub username", max_length=100, blank=True, help_text="As the student gave it."
    )
    github_username_valid = models.BooleanField(
        "GitHub username valid",
        default=False,
        help_text="Whether the username follows GitHub's rules (checked offline).",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ENROLLED, db_index=True
    )
    group_code = models.CharField(
        max_length=40,
        blank=True,
        db_index=True,
        help_text="The project group, e.g. S01-G03. Kept after a drop as history.",
    )
    invited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the GitHub organization invite was sent."
    )
    last_reminded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last username reminder was queued."
    )
    reminder_task = models.CharField(
        max_length=64,
        blank=True,
        help_text="The task that sends the last reminder; its delivery is listed under Reminders.",
    )
    # What the GitHub steps (adminflow.contrib.github) found and did, one field per action:
    # "done", "already" (GitHub was already so) or "failed: <reason>"; blank until tried.
    github_id = models.BigIntegerField(
        "GitHub account id", null=True, blank=True, help_text="Survives a rename of the account."
    )
    github_login = models.CharField(
        "GitHub login", max_length=100, blank=True, help_text="The account's current login."
    )
    github_account = models.CharField("GitHub account check", max_length=300, blank=True)
    github_invite = models.CharField("organization invite", max_length=300, blank=True)
    github_joined = models.BooleanField(
        "joined the organization", default=False, help_text="Accepted the invitation."
    )
    github_repo = models.CharField("repository created", max_length=300, blank=True)
    github_repo_name = models.CharField("repository", max_length=100, blank=True)
    github_team = models.CharField(
        "GitHub team", max_length=300, blank=True, help_text="The slug of the group's team."
    )
    github_removed = models.CharField("access removed", max_length=300, blank=True)
    submissions = models.JSONField(
        default=dict, blank=True, help_text="Tag -> the commit tagged, or 'no commit'."
    )
    # What the Canvas steps (adminflow.contrib.canvas) read and did.
    canvas_user_id = models.BigIntegerField(
        "Canvas user id", null=True, blank=True, help_text="Set by the Canvas roster import."
    )
    sis_user_id = models.CharField("SIS id", max_length=64, blank=True)
    canvas_group = models.CharField(
        "Canvas group", max_length=300, blank=True, help_text="The Canvas group they are in."
    )
    canvas_grades = models.JSONField(
        default=dict, blank=True, help_text="Assignment id -> the grade posted to Canvas."
    )
    canvas_messages = models.JSONField(
        default=dict, blank=True, help_text="Message name -> when it was sent on Canvas."
    )

    objects = StudentQuerySet.as_manager()

    class Meta:
        ordering = ["section__code", "netid"]

    def __str__(self) -> str:
        return f"{self.name} ({self.netid})"

    @property
    def is_enrolled(self) -> bool:
        return self.status == self.Status.ENROLLED


class Group(models.Model):
    """A project group within a section; its members are the enrolled students with its code.

    Rows are written by the ``Roster`` storer, in the same transaction as the
    students whose ``group_code`` names them.
    """

    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="groups")
    code = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def members(self) -> StudentQuerySet:
        return Student.objects.enrolled().filter(group_code=self.code)


class Reminder(models.Model):
    """How the delivery of one username reminder went, as the task that sent it recorded it.

    The reminder step queues reminders for a Tasks worker and records the
    task on each student (``Student.reminder_task``); the task writes these
    rows. A student whose reminder task has no row for them yet is still
    queued. Not fields of the student: the step's records are stored after
    the step, and a worker may deliver before that (a backend that runs
    tasks at once does so before the step even ends), so an outcome written
    on the student would be overwritten, or find no row yet for a student
    added in the same run.
    """

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        """Accepted by the email backend."""
        FAILED = "failed", "Failed"
        """Refused by the mail server, or the server could not be reached."""

    netid = models.CharField("NetID", max_length=64, db_index=True)
    email = models.EmailField()
    task_id = models.CharField("task", max_length=64, help_text="The task that sent it.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True, help_text="The mail server's reply, if it failed.")
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-finished_at", "netid"]
        constraints = [
            models.UniqueConstraint(fields=["task_id", "netid"], name="course_reminder_once_a_task")
        ]

    def __str__(self) -> str:
        return f"reminder to {self.netid} ({self.outcome})"
