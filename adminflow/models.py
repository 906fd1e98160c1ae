"""What adminflow keeps in the database: flows, their runs, steps, logs and records."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .access import visible_condition
from .schedule.cron import cron_problem, next_tick
from .states import (
    ACTIVE_RUN_STATUSES,
    FlowRunStatus,
    IntentOutcome,
    PlanPolicy,
    PlanState,
    RunPurpose,
    StepRunStatus,
    Trigger,
)
from .validators import validate_cron, validate_recipients

if TYPE_CHECKING:
    from .engine import ConfiguredFlow

ONE_ACTIVE_RUN = "adminflow_one_active_run_per_flow"
"""The constraint that keeps a flow to one queued or running run."""

# What decides when a flow is next due: a change to any of them moves schedule_due_at.
SCHEDULE_FIELDS = ("enabled", "schedule", "schedule_enabled", "schedule_starts", "schedule_ends")


class FlowQuerySet(models.QuerySet["Flow"]):
    def visible_to(self, user: Any) -> FlowQuerySet:
        """Return the flows ``user`` may see (:mod:`adminflow.access`)."""
        return self.filter(visible_condition(user, "pk"))


class Flow(models.Model):
    """One row per registered or data-defined flow; kept when code changes, with its runs."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True, help_text=_("The stored config."))
    enabled = models.BooleanField(default=True)
    spec = models.JSONField(
        null=True, blank=True, help_text=_("For flows defined as data: storer and steps.")
    )
    schedule = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_cron],
        help_text=_(
            "A cron expression (minute hour day-of-month month day-of-week) read in the "
            "site's time zone, e.g. '*/15 8-18 * * 1-5'. Blank: no schedule."
        ),
    )
    schedule_enabled = models.BooleanField(
        _("schedule on"), default=True, help_text=_("Switch the schedule off without losing it.")
    )
    schedule_starts = models.DateField(
        null=True, blank=True, help_text=_("The first day the schedule runs (e.g. term start).")
    )
    schedule_ends = models.DateField(
        null=True, blank=True, help_text=_("The last day the schedule runs (e.g. term end).")
    )
    schedule_due_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("The next scheduled time not yet claimed by a scheduler."),
    )
    last_scheduled_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text=_("The last scheduled time claimed.")
    )
    notify_emails = models.TextField(
        _("notify"),
        blank=True,
        validators=[validate_recipients],
        help_text=_("Email addresses told when a run fails; commas or one per line."),
    )
    notify_on_success = models.BooleanField(
        default=False, help_text=_("Tell them about successful runs too.")
    )
    plan_required = models.CharField(
        max_length=16,
        choices=PlanPolicy.choices,
        default=PlanPolicy.NEVER,
        help_text=_(
            "Whether a run must be planned and approved before it acts: never, for every "
            "run, or only when it would exceed the blast radius below."
        ),
    )
    plan_max_drop_share = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "Blast radius: the largest share of its loaded records (0 to 1) a run may "
            "remove without a plan; blank for no limit."
        ),
    )
    plan_max_intents = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Blast radius: the most outside actions a run may take without a plan; "
            "blank for no limit."
        ),
    )
    plan_two_person = models.BooleanField(
        _("two-person approval"),
        default=False,
        help_text=_("Whoever planned a run may not approve it."),
    )
    access_groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="+",
        verbose_name=_("access groups"),
        help_text=_(
            "Only staff in these groups see this flow, run it and see its runs; "
            "none: all staff with the permissions. Superusers see every flow."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FlowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("run_flow", "Can run flows")]
        indexes = [models.Index(fields=["schedule_due_at"], name="adminflow_flow_due")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; if the schedule changed (or the row is new), move ``schedule_due_at`` to
        the schedule's first time from now on, so that no time already past runs.

        Otherwise the scheduler's two fields are left as the database has them:
        a scheduler moves them with conditional UPDATEs while, say, an admin
        form holds the row, and writing back the values read would hand out a
        scheduled time that was already claimed.
        """
        update_fields = kwargs.get("update_fields")
        changed = self._schedule_changed(update_fields)
        if changed:
            self.schedule_due_at = self.next_schedule_time(timezone.now())
        if not self._state.adding:
            kept = {"last_scheduled_at"} if changed else {"last_scheduled_at", "schedule_due_at"}
            if update_fields is None:
                update_fields = [
                    field.name
                    for field in self._meta.concrete_fields
                    if not field.primary_key and field.name not in kept
                ]
            elif changed:
                update_fields = {*update_fields, "schedule_due_at"}
            kwargs["update_fields"] = update_fields
        super().save(*args, **kwargs)
        deferred = self.get_deferred_fields()
        self._loaded_schedule = {
            name: getattr(self, name) for name in SCHEDULE_FIELDS if name not in deferred
        }

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: models.QuerySet[Flow] | None = None,
    ) -> None:
        super().refresh_from_db(using, fields, from_queryset)
        # What was reloaded now counts as loaded, for save() to compare against.
        reloaded = set(SCHEDULE_FIELDS if fields is None else fields) & set(SCHEDULE_FIELDS)
        self._loaded_schedule = {
            **getattr(self, "_loaded_schedule", {}),
            **{name: self.__dict__[name] for name in reloaded if name in self.__dict__},
        }

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Flow:
        # **kwargs: Django 6.1 adds fetch_mode and warns when it is not passed on.
        instance = super().from_db(db, field_names, values, **kwargs)
        # The schedule as loaded, so save() knows whether it changed (Django's
        # "Customizing model loading").
        instance._loaded_schedule = {
            name: value
            for name, value in zip(field_names, values, strict=True)
            if name in SCHEDULE_FIELDS
        }
        return instance

    def clean(self) -> None:
        super().clean()
        starts, ends = self.schedule_starts, self.schedule_ends
        if starts is not None and ends is not None and starts > ends:
            raise ValidationError(
                {
                    "schedule_ends": ValidationError(
                        _("The schedule's last day (%(ends)s) is before its first (%(starts)s)."),
                        code="schedule_ends_before_start",
                        params={"ends": ends.isoformat(), "starts": starts.isoformat()},
                    )
                }
            )

    def _schedule_changed(self, update_fields: Iterable[str] | None) -> bool:
        loaded = getattr(self, "_loaded_schedule", None)
        if self._state.adding or loaded is None:
            return True
        saved = SCHEDULE_FIELDS if update_fields is None else set(update_fields)
        deferred = self.get_deferred_fields()
        return any(
            name in saved and name not in deferred and loaded.get(name) != getattr(self, name)
            for name in SCHEDULE_FIELDS
        )

    def next_schedule_time(self, after: datetime) -> datetime | None:
        """Return the first time after ``after`` that the flow's schedule falls due.

        None if it has none: no schedule, an invalid one, switched off, the
        flow disabled, or the last day of the schedule over.
        """
        if not (self.enabled and self.schedule_enabled and self.schedule):
            return None
        if cron_problem(self.schedule):
            return None  # reported by the system checks (adminflow.E007)
        tick = next_tick(self.schedule, after, starts=self.schedule_starts, ends=self.schedule_ends)
        # In UTC, as the database gives it back: a time in autumn's repeated hour
        # never equals one in another zone (PEP 495), even at the same instant.
        return None if tick is None else tick.astimezone(UTC)


class FlowRunQuerySet(models.QuerySet["FlowRun"]):
    def active(self) -> FlowRunQuerySet:
        return self.filter(status__in=ACTIVE_RUN_STATUSES)

    def finished(self) -> FlowRunQuerySet:
        return self.exclude(status__in=ACTIVE_RUN_STATUSES)

    def visible_to(self, user: Any) -> FlowRunQuerySet:
        """Return the runs of flows ``user`` may see (:mod:`adminflow.access`)."""
        return self.filter(visible_condition(user, "flow_id"))


class ConfigSource(models.TextChoices):
    """Which config a run ran with, so that its page can say where its config came from."""

    FLOW = "flow", _("the flow's stored config")
    """The ``Flow`` row's config (else the flow's default), as it was when the run was queued."""
    GIVEN = "given", _("a config given to the run")
    """A config handed to the run as it started (``runflow --config``, an API call)."""
    RUN = "run", _("the config of an earlier run")
    """A re-run's or a resume's: the config of the run it repeats (``config_from``)."""


class FlowRun(models.Model):
    """One run of a flow: who started it, how it went, what it did."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(
        max_length=16, choices=FlowRunStatus.choices, default=FlowRunStatus.QUEUED
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    debug = models.BooleanField(default=False)
    config_snapshot = models.JSONField(
        default=dict, blank=True, help_text=_("The effective config, secrets masked.")
    )
    step_modes = models.JSONField(default=dict, blank=True)
    num_threads = models.PositiveIntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text=_("host:pid"))
    records_loaded = models.PositiveIntegerField(null=True, blank=True)
    records_stored = models.PositiveIntegerField(null=True, blank=True)
    records_added = models.PositiveIntegerField(null=True, blank=True)
    records_changed = models.PositiveIntegerField(null=True, blank=True)
    records_removed = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    change_summary = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "What the store changed, by kind (added, removed, returned, changed) and, for "
            "changed records, by field: counted as the store wrote them."
        ),
    )
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    storer_report = models.TextField(
        blank=True, help_text=_("What the storer said while storing, e.g. a debug store's plan.")
    )
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumes"
    )
    # Blank on runs recorded before runs said where their config came from.
    config_source = models.CharField(max_length=8, choices=ConfigSource, blank=True)
    config_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("For a config_source of 'run': the run whose config this run used."),
    )
    cancel_requested = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text=_("For scheduled runs: the scheduled time.")
    )
    task_id = models.CharField(max_length=255, blank=True)
    purpose = models.CharField(max_length=8, choices=RunPurpose.choices, default=RunPurpose.RUN)
    applies_plan = models.ForeignKey(
        "Plan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="apply_runs",
        help_text=_("For an apply (or its resume): the plan it carries out."),
    )
    overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "What was given for this run only, over the flow's stored config: config keys "
            "(secrets masked), step modes, debug, uploaded files."
        ),
    )

    objects = FlowRunQuerySet.as_manager()

    configured_flow: ConfiguredFlow | None = None
    """Not stored: the flow as the start checked it, on a run executed by the process that
    queued it (:mod:`adminflow.runs.service`); a run loaded from the database has none."""

    class Meta:
        ordering = ["-queued_at", "-id"]
        # The admin's run actions; each also needs the run to be in a state that allows it.
        permissions = [
            ("cancel_flowrun", "Can cancel runs"),
            ("rerun_flowrun", "Can re-run runs"),
            ("resume_flowrun", "Can resume runs"),
            ("approve_flowrun", "Can approve, reject and apply plans"),
        ]
        constraints = [
            # The database, not the application, guarantees one active run per flow.
            models.UniqueConstraint(
                fields=["flow"],
                condition=Q(status__in=[FlowRunStatus.QUEUED, FlowRunStatus.RUNNING]),
                name=ONE_ACTIVE_RUN,
            )
        ]
        indexes = [
            # A flow's runs newest first, in exactly the changelists' order.
            models.Index(fields=["flow", "-queued_at", "-id"], name="adminflow_run_flow_newest"),
            # The changelist's order: its first page is read off the index, however many runs.
            models.Index(fields=["-queued_at", "-id"], name="adminflow_run_queued"),
            models.Index(fields=["status", "heartbeat_at"], name="adminflow_run_status_beat"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id and self.flow.name} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class PlanQuerySet(models.QuerySet["Plan"]):
    def visible_to(self, user: Any) -> PlanQuerySet:
        """Return the plans of runs of flows ``user`` may see (:mod:`adminflow.access`)."""
        return self.filter(visible_condition(user, "run__flow_id"))


class Plan(models.Model):
    """The review of a planned run: who planned, approved or rejected it, and its apply.

    Its intents (:class:`PlannedIntent`) and record diff (:class:`PlannedRecord`)
    are what an apply carries out and stores, exactly; the run service
    (:mod:`adminflow.runs.plans`) is the one door that changes a plan.
    """

    run = models.OneToOneField(FlowRun, on_delete=models.CASCADE, related_name="plan")
    state = models.CharField(max_length=16, choices=PlanState.choices, default=PlanState.PENDING)
    reason = models.TextField(
        blank=True, help_text=_("Why the run was planned: asked for, or the flow's gate.")
    )
    planned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requires_second_person = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_by_run = models.OneToOneField(
        FlowRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The first apply run; a resume of it is another apply run of this plan."),
    )

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"plan of run {self.run_id} ({self.state})"

    def state_at(self, now: Any) -> str:
        """Return the plan's state as of ``now``: expired once a pending or approved one is past due."""
        if self.state in (PlanState.PENDING, PlanState.APPROVED) and now >= self.expires_at:
            return PlanState.EXPIRED
        return self.state


class PlannedRecord(models.Model):
    """One record a plan touches: how it was when planned and what the plan would store.

    ``unchanged`` entries are records that only intents are about: their
    fingerprint is checked by the apply, nothing of them is stored.
    """

    class Action(models.TextChoices):
        ADDED = "added", _("Added")
        CHANGED = "changed", _("Changed")
        REMOVED = "removed", _("Removed")
        UNCHANGED = "unchanged", _("Unchanged")

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="records")
    position = models.PositiveIntegerField()
    collection = models.CharField(max_length=200, help_text=_("Collection or model label."))
    key = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(
        max_length=64, blank=True, help_text=_("The record's stored state when planned.")
    )
    selected = models.BooleanField(default=True)
    stored_by = models.ForeignKey(
        FlowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["plan", "position"]
        indexes = [models.Index(fields=["plan", "key"], name="adminflow_plannedrec_key")]

    def __str__(self) -> str:
        return f"{self.action} {self.key}"


class PlannedIntent(models.Model):
    """One outside action of a plan, as its step declared it, and how carrying it out went."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="intents")
    position = models.PositiveIntegerField()
    step = models.CharField(max_length=200)
    key = models.CharField(max_length=255, blank=True, help_text=_("The record it is about."))
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    line = models.TextField()
    selected = models.BooleanField(default=True)
    outcome = models.CharField(
        max_length=16, choices=IntentOutcome.choices, default=IntentOutcome.PENDING
    )
    error = models.TextField(blank=True)
    marks = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,  # a step writes down times and dates (reminded at ...)
        help_text=_("What carrying it out wrote on its record."),
    )
    carried_out_by = models.ForeignKey(
        FlowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    carried_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "position"]
        indexes = [
            models.Index(fields=["plan", "step", "action"], name="adminflow_intent_group"),
        ]

    def __str__(self) -> str:
        return self.line[:80]


class StepRun(models.Model):
    """One step's part in one run."""

    # No index of its own: the unique (run, name) index leads with it. A 1000-step run
    # writes each row twice or more, and every index is one more write each time.
    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="steps", db_index=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16)
    mode = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=StepRunStatus.choices, default=StepRunStatus.PENDING
    )
    depends_on = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text=_("Seconds."))
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text=_("How many times the step's method was called.")
    )
    time_limit = models.FloatField(
        null=True, blank=True, help_text=_("Seconds the step should take at most.")
    )
    overdue = models.BooleanField(default=False, help_text=_("It ran past its time limit."))
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="adminflow_step_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RunLog(models.Model):
    """One log line of a run: from a step, the storer (by name) or the flow (blank)."""

    # No index of its own: both indexes below lead with it, and a run writes a line
    # for every start and end of each of its steps.
    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="logs", db_index=False)
    step = models.CharField(max_length=200, blank=True)
    level = models.PositiveSmallIntegerField(default=20)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    record_key = models.CharField(
        max_length=255,
        blank=True,
        default="",
        db_default="",  # rows written by SQL that predates it (a site's own, bulk loads)
        help_text=_("The record the line is about, when the run could tell (a traced run)."),
    )

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["run", "level"], name="adminflow_log_run_level"),
            # The admin pages a run's log by id (keyset), never by OFFSET.
            models.Index(fields=["run", "id"], name="adminflow_log_run_id"),
            # A record's timeline finds its lines; most lines name no record.
            models.Index(
                fields=["record_key", "run"],
                name="adminflow_log_record",
                condition=~Q(record_key=""),
            ),
        ]

    def __str__(self) -> str:
        return self.message[:80]


class Record(models.Model):
    """A typed record kept by adminflow itself, as JSON under a collection and key."""

    collection = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["collection", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "key"], name="adminflow_record_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collection}/{self.key}"


class RecordChangeQuerySet(models.QuerySet["RecordChange"]):
    def visible_to(self, user: Any) -> RecordChangeQuerySet:
        """Return the changes made by runs of flows ``user`` may see (:mod:`adminflow.access`)."""
        return self.filter(visible_condition(user, "run__flow_id"))


class ChangeKind(models.TextChoices):
    """What a record change means to staff, which its store action alone does not say."""

    ADDED = "added", _("Added")
    """A record new to the collection."""
    REMOVED = "removed", _("Removed")
    """Deleted, or (for a storer that declares an enrolment field) no longer enrolled."""
    RETURNED = "returned", _("Re-enrolled")
    """Added back after an earlier run removed it, or enrolled again."""
    CHANGED = "changed", _("Changed")
    """Any other change of a record's fields."""


class RecordChange(models.Model):
    """What one run did to one record: the audit trail of the store."""

    class Action(models.TextChoices):
        ADDED = "added", _("Added")
        CHANGED = "changed", _("Changed")
        REMOVED = "removed", _("Removed")

    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="record_changes")
    collection = models.CharField(max_length=200, help_text=_("Collection or model label."))
    key = models.CharField(max_length=255)
    action = models.CharField(max_length=16, choices=Action.choices)
    kind = models.CharField(
        max_length=16,
        choices=ChangeKind,
        blank=True,
        default="",
        db_default="",
        help_text=_("What the change means; blank on changes stored before kinds were kept."),
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    objects = RecordChangeQuerySet.as_manager()

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["collection", "key"], name="adminflow_change_record"),
            models.Index(fields=["run", "kind"], name="adminflow_change_run_kind"),
            models.Index(fields=["run", "key"], name="adminflow_change_run_key"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.collection}/{self.key}"


class StepEffect(models.Model):
    """What one step of one run did to one record: a cell of the run's record x step grid.

    Written while the run executes (see :mod:`adminflow.engine.tracing`): a
    record step's additions and removals and the lines a step logged about a
    record always; the fields each step changed, and errors raised while a
    step held a record, when the flow traces records.
    """

    run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="step_effects")
    step = models.CharField(max_length=200)
    collection = models.CharField(max_length=200, help_text=_("Collection or model label."))
    key = models.CharField(max_length=255)
    action = models.CharField(
        max_length=16, blank=True, help_text=_("added, removed, changed, or blank: only logged.")
    )
    fields = models.JSONField(default=list, blank=True, help_text=_("The fields it changed."))
    error = models.TextField(blank=True)
    lines = models.PositiveIntegerField(default=0, help_text=_("Log lines about the record."))

    class Meta:
        ordering = ["run", "id"]
        indexes = [
            models.Index(fields=["run", "key"], name="adminflow_effect_run_key"),
            models.Index(fields=["collection", "key"], name="adminflow_effect_record"),
        ]

    def __str__(self) -> str:
        return f"{self.step}: {self.action or 'logged'} {self.collection}/{self.key}"


class Worker(models.Model):
    """A task worker that executes runs, as last seen: whether anyone will take a queued run.

    A Tasks backend cannot say who consumes its queue, so a worker says it
    itself: it writes its row when it takes a run and beats it while it
    executes the run (:mod:`adminflow.runs.workers`). A ``runflow`` process
    executing its own run is no task worker and has no row.
    """

    name = models.CharField(max_length=255, unique=True, help_text=_("host:pid"))
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]
        # The worker seen last is read off this index, however many workers came and went.
        indexes = [models.Index(fields=["last_seen_at"], name="adminflow_worker_seen")]

    def __str__(self) -> str:
        return self.name
