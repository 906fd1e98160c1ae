"""The course's admin pages: search and filters, through the changelist Django builds."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory

from courseadmin.course.admin import GroupAdmin, SectionAdmin, StudentAdmin
from courseadmin.course.models import Group, Section, Student
from tests.factories import CourseStudentFactory, SectionFactory

pytestmark = pytest.mark.django_db


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
