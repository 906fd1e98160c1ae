"""Admin pages for the course: students, sections and groups, with search and filters.

Flows keep students and groups up to date; staff mostly look. Staff may
correct a student's details (a GitHub username a student emailed in, say);
what flows compute (validity, reminders, groups) is read-only here, and so is
how each queued reminder's delivery went.
A student's page also shows what each roster run did to that student.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from adminflow.admin import RecordHistoryMixin

from .models import Group, Reminder, Section, Student


@admin.register(Student)
class StudentAdmin(RecordHistoryMixin, admin.ModelAdmin):
    list_display = [
        "netid",
        "name",
        "email",
        "section",
        "status",
        "github_username",
        "github_username_valid",
        "group_code",
        "last_reminded_at",
    ]
    list_filter = ["status", "section", "github_username_valid", "last_reminded_at"]
    list_select_related = ["section"]
    search_fields = ["netid", "name", "email", "github_username", "group_code"]
    readonly_fields = [
        "status",
        "github_username_valid",
        "group_code",
        "invited_at",
        "last_reminded_at",
        "reminder_task",
    ]


class HasGroupsFilter(admin.SimpleListFilter):
    title = "project groups"
    parameter_name = "has_groups"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Formed"), ("no", "None yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Section]) -> QuerySet[Section]:
        if self.value() == "yes":
            return queryset.filter(groups__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(groups__isnull=True)
        return queryset


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "enrolled", "groups"]
    list_filter = [HasGroupsFilter]
    search_fields = ["code", "title"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Section]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                enrolled_count=Count(
                    "students",
                    filter=Q(students__status=Student.Status.ENROLLED),
                    distinct=True,
                ),
                group_count=Count("groups", distinct=True),
            )
        )

    @admin.display(ordering="enrolled_count", description="enrolled")
    def enrolled(self, section: Section) -> int:
        return section.enrolled_count

    @admin.display(ordering="group_count", description="groups")
    def groups(self, section: Section) -> int:
        return section.group_count


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    """Read-only: groups are formed by the roster flow, from the students' group codes."""

    list_display = ["code", "section", "size", "created_at"]
    list_filter = ["section"]
    list_select_related = ["section"]
    search_fields = ["code"]
    search_help_text = "A group code, or a member's NetID or name."
    fields = ["code", "section", "member_names", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        members = (
            Student.objects.enrolled()
            .filter(group_code=OuterRef("code"))
            .order_by()
            .values("group_code")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(size=Coalesce(Subquery(members, output_field=IntegerField()), 0))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Group], search_term: str
    ) -> tuple[QuerySet[Group], bool]:
        """Also find the groups whose members' NetID or name matches: "which group is Ana in?"."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            codes = (
                Student.objects.enrolled()
                .filter(Q(netid__icontains=search_term) | Q(name__icontains=search_term))
                .values("group_code")
            )
            results |= queryset.filter(code__in=codes)
        return results, may_have_duplicates

    @admin.display(ordering="size", description="members")
    def size(self, group: Group) -> int:
        return group.size

    @admin.display(description="member names")
    def member_names(self, group: Group) -> str:
        return ", ".join(student.name for student in group.members) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """Read-only: the task sending queued reminders says how each one went (a failed one
    with the mail server's reply)."""

    list_display = ["netid", "email", "outcome", "error", "finished_at", "task_id"]
    list_filter = ["outcome", "finished_at"]
    search_fields = ["netid", "email", "task_id"]
    search_help_text = "A NetID, an email address or a task id."
    fields = list_display
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reminder | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Reminder | None = None) -> bool:
        return False
