"""The course's admin pages: search and filters, through the changelist Django builds, and
each student's history across the runs that stored them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse

from adminflow.admin.record_history import HISTORY_LIMIT
from adminflow.models import FlowRun, RecordChange
from adminflow.states import FlowRunStatus
from courseadmin.course.admin import GroupAdmin, ReminderAdmin, SectionAdmin, StudentAdmin
from courseadmin.course.models import Group, Reminder, Section, Student
from tests.course.conftest import run, student_row, sync_config
from tests.factories import CourseStudentFactory, FlowRunFactory, SectionFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
VIEW_STUDENT = "course.view_student"
VIEW_CHANGES = "adminflow.view_recordchange"
VIEW_RUNS = "adminflow.view_flowrun"


def run_url(flow_run: FlowRun) -> str:
    return reverse("admin:adminflow_flowrun_change", args=[flow_run.pk])


def changes_url() -> str:
    return reverse("admin:adminflow_recordchange_changelist")


@pytest.fixture
def staff_user() -> User:
    return User.objects.create_superuser("staff", "staff@example.edu", "pw")


def changelist(model_admin_class, model, user, **query: str) -> list:
    request = RequestFactory().get("/", query)
    request.user = user
    model_admin = model_admin_class(model, admin.site)
    return list(model_admin.get_changelist_instance(request).get_queryset(request))


@pytest.fixture
def course() -> None:
    s01, s02 = SectionFactory(code="S01", title="Mon 9:00"), SectionFactory(code="S02")
    CourseStudentFactory(netid="ab1", name="Ana Lima", section=s01, group_code="S01-G01")
    CourseStudentFactory(netid="cd2", name="Cy Ode", section=s01, group_code="S01-G01")
    CourseStudentFactory(
        netid="ef3", name="Eve Fox", section=s02, github_username="", github_username_valid=False
    )
    CourseStudentFactory(
        netid="gh4", name="Gus Ho", section=s01, status="dropped", group_code="S01-G02"
    )
    Group.objects.create(code="S01-G01", section=s01)
    Group.objects.create(code="S01-G02", section=s01)


def test_every_course_model_has_an_admin_page():
    assert isinstance(admin.site._registry[Student], StudentAdmin)
    assert isinstance(admin.site._registry[Section], SectionAdmin)
    assert isinstance(admin.site._registry[Group], GroupAdmin)
    assert isinstance(admin.site._registry[Reminder], ReminderAdmin)


def test_staff_see_how_each_reminder_went_and_cannot_change_it(staff_user):
    Reminder.objects.create(netid="ab1", email="ab1@example.edu", task_id="t1", outcome="sent")
    Reminder.objects.create(
        netid="cd2", email="cd2@example.edu", task_id="t1", outcome="failed", error="550 no user"
    )
    client = Client()
    client.force_login(staff_user)

    page = client.get(reverse("admin:course_reminder_changelist"), {"outcome__exact": "failed"})

    assert [r.netid for r in page.context["cl"].result_list] == ["cd2"]
    assert "550 no user" in page.content.decode()
    request = RequestFactory().get("/")
    request.user = staff_user
    reminder_admin = ReminderAdmin(Reminder, admin.site)
    assert not reminder_admin.has_add_permission(request)
    assert not reminder_admin.has_change_permission(request)
    assert not reminder_admin.has_delete_permission(request)


@pytest.mark.parametrize(
    ("query", "netids"),
    [
        ({"q": "ana"}, ["ab1"]),
        ({"q": "S01-G01"}, ["ab1", "cd2"]),
        ({"status__exact": "dropped"}, ["gh4"]),
        ({"github_username_valid__exact": "0"}, ["ef3"]),
        ({"section__id__exact": "SECTION_S02"}, ["ef3"]),
    ],
)
def test_students_are_searched_and_filtered(course, staff_user, query, netids):
    query = {
        key: str(Section.objects.get(code="S02").pk) if value == "SECTION_S02" else value
        for key, value in query.items()
    }

    found = changelist(StudentAdmin, Student, staff_user, **query)

    assert sorted(student.netid for student in found) == netids


def test_sections_show_enrolled_and_group_counts_and_filter_on_groups(course, staff_user):
    sections = changelist(SectionAdmin, Section, staff_user)

    assert [(s.code, s.enrolled_count, s.group_count) for s in sections] == [
        ("S01", 2, 2),
        ("S02", 1, 0),
    ]
    assert [s.code for s in changelist(SectionAdmin, Section, staff_user, has_groups="no")] == [
        "S02"
    ]
    assert [s.code for s in changelist(SectionAdmin, Section, staff_user, has_groups="yes")] == [
        "S01"
    ]
    assert [s.code for s in changelist(SectionAdmin, Section, staff_user, q="mon")] == ["S01"]


def test_groups_count_enrolled_members_and_are_found_by_a_members_name(course, staff_user):
    groups = changelist(GroupAdmin, Group, staff_user)

    assert [(g.code, g.size) for g in groups] == [("S01-G01", 2), ("S01-G02", 0)]
    assert [g.code for g in changelist(GroupAdmin, Group, staff_user, q="cy ode")] == ["S01-G01"]
    # Gus dropped: he carries S01-G02 as history but is no member, so no match.
    assert changelist(GroupAdmin, Group, staff_user, q="gus") == []
    assert GroupAdmin(Group, admin.site).member_names(groups[0]) == "Ana Lima, Cy Ode"


def test_groups_are_read_only_since_the_roster_flow_forms_them(staff_user):
    request = RequestFactory().get("/")
    request.user = staff_user
    group_admin = GroupAdmin(Group, admin.site)

    assert not group_admin.has_add_permission(request)
    assert not group_admin.has_change_permission(request)
    assert not group_admin.has_delete_permission(request)
    assert group_admin.has_view_permission(request)


# A student's history across runs, on the student's own page


def student_url(student: Student) -> str:
    return reverse("admin:course_student_change", args=[student.pk])


def staff_client(*permissions: str) -> Client:
    """Return a client logged in as staff holding ``permissions`` and no others."""
    client = Client()
    client.force_login(StaffUserFactory(permissions=list(permissions)))
    return client


def audit(run: FlowRun, key: str, action: str, before: Any = None, after: Any = None) -> None:
    RecordChange.objects.create(
        run=run, collection="course.Student", key=key, action=action, before=before, after=after
    )


@pytest.mark.django_db(transaction=True)
def test_a_student_s_page_shows_what_each_roster_run_did_to_them(
    admin_client: Client, sections, write_roster, mailoutbox
):
    first = run("roster-sync", sync_config(write_roster([student_row("ab1", name="Ann")])))
    renamed = write_roster([student_row("ab1", name=SCRIPT), student_row("cd2")])
    second = run("roster-sync", sync_config(renamed))
    assert (first.status, second.status) == ("succeeded", "succeeded")

    response = admin_client.get(student_url(Student.objects.get(netid="ab1")))

    history = response.context["record_history"]
    assert [(entry.change.run_id, entry.change.action) for entry in history.entries] == [
        (second.pk, "changed"),
        (first.pk, "added"),
    ]
    page = response.content.decode()
    for flow_run in (first, second):
        assert f'<a href="{run_url(flow_run)}">{flow_run}</a>' in page
    assert "&quot;name&quot;: &quot;Ann&quot;" in page  # before the second run
    assert f"&quot;name&quot;: &quot;{ESCAPED_SCRIPT}&quot;" in page  # after it
    assert "<script>alert" not in page
    assert "cd2" not in page  # another student's changes
    assert 'name="_save"' in page  # still the student's own form, editable


@pytest.fixture
def audited() -> tuple[Student, FlowRun]:
    """Student ab1, whose name a failed run changed to markup, with that run's audit row."""
    ann = CourseStudentFactory(netid="ab1", name="Ann")
    flow_run = FlowRunFactory(status=FlowRunStatus.FAILED)
    audit(flow_run, "ab1", "changed", {"name": "Ann"}, {"name": SCRIPT})
    return ann, flow_run


def test_a_student_s_history_is_shown_and_linked_only_to_who_may_view_it(audited):
    ann, flow_run = audited

    def page(*permissions: str) -> str:
        response = staff_client(VIEW_STUDENT, *permissions).get(student_url(ann))
        assert response.status_code == 200
        html = response.content.decode()
        assert "<script>alert" not in html
        return html

    everything = page(VIEW_CHANGES, VIEW_RUNS)
    assert f'<a href="{run_url(flow_run)}">{flow_run}</a>' in everything
    assert f"&quot;name&quot;: &quot;{ESCAPED_SCRIPT}&quot;" in everything  # what the run wrote
    without_runs = page(VIEW_CHANGES)
    assert f"<td>{flow_run}</td>" in without_runs  # the run, as text
    assert "/flowrun/" not in without_runs  # no link to a page it may not see
    assert ESCAPED_SCRIPT in without_runs
    # The history is record changes: without their permission, none of it is shown.
    without_changes = page(VIEW_RUNS)
    assert 'id="history"' not in without_changes
    assert ESCAPED_SCRIPT not in without_changes
    assert run_url(flow_run) not in without_changes


@pytest.mark.parametrize("size", [10, 10_000])
def test_a_student_changed_by_many_runs_shows_a_page_of_them_in_bounded_queries(
    size: int, django_assert_max_num_queries
):
    ann = CourseStudentFactory(netid="ab1")
    runs = FlowRunFactory.create_batch(3, status=FlowRunStatus.SUCCEEDED)
    RecordChange.objects.bulk_create(
        RecordChange(
            run=runs[n % 3],
            collection="course.Student",
            key="ab1",
            action="changed",
            before={"n": n},
            after={"n": n + 1},
        )
        for n in range(size)
    )
    client = staff_client(VIEW_STUDENT, VIEW_CHANGES, VIEW_RUNS)
    client.get(student_url(ann))  # the session and permission caches warm up

    with django_assert_max_num_queries(7):
        response = client.get(student_url(ann))

    history = response.context["record_history"]
    assert len(history.entries) == min(size, HISTORY_LIMIT)
    assert history.entries[0].change.after == {"n": size}
    assert history.truncated is (size > HISTORY_LIMIT)
    every_change = f"{changes_url()}?collection=course.Student&amp;key=ab1"
    assert (every_change in response.content.decode()) is (size > HISTORY_LIMIT)


def test_the_student_admin_keys_history_by_the_roster_storer_s_key_field():
    student_admin = admin.site.get_model_admin(Student)

    assert student_admin.get_record_key_field() is Student._meta.get_field("netid")
    assert student_admin.check() == []


@pytest.mark.urls("courseadmin.urls")
def test_view_site_opens_the_course_roster(staff_user):
    client = staff_client("course.view_student")

    index = client.get(reverse("admin:index"))
    response = client.get("/")

    assert '<a href="/">View site</a>' in index.content.decode()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:course_student_changelist")
    assert client.get(response["Location"]).status_code == 200
