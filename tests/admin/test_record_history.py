"""RecordHistoryMixin on a host model's admin: which field keys the history, and the
check that reports an admin that cannot tell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import path, reverse

from adminflow.admin import RecordHistoryMixin
from adminflow.models import RecordChange
from adminflow.registry import step_registry
from adminflow.states import FlowRunStatus
from adminflow.storage import DjangoRecordStorer
from courseadmin.course.models import Section, Student
from tests.factories import CourseStudentFactory, FlowRunFactory, SectionFactory

from .run_helpers import client_for

pytestmark = pytest.mark.django_db


class SectionAdmin(RecordHistoryMixin, admin.ModelAdmin):
    """Sections are stored by no registered flow."""


class SectionByCodeAdmin(RecordHistoryMixin, admin.ModelAdmin):
    record_key_field = "code"


class SectionByMistakeAdmin(RecordHistoryMixin, admin.ModelAdmin):
    record_key_field = "room"


class StudentAdmin(RecordHistoryMixin, admin.ModelAdmin):
    pass


class StudentsByPk(DjangoRecordStorer[Student]):
    description = "Students by primary key."
    model = Student


sections_site = admin.AdminSite(name="sections")
sections_site.register(Section, SectionByCodeAdmin)
urlpatterns = [path("sections/", sections_site.urls)]


def check(admin_class: type[admin.ModelAdmin], model: type) -> list[Error]:
    return admin_class(model, admin.AdminSite(name="checked")).check()


def test_an_admin_whose_model_no_registered_storer_keeps_must_name_its_key_field():
    assert check(SectionAdmin, Section) == [
        Error(
            "SectionAdmin: no registered flow or storer type keeps course.Section records in "
            "the database, so it cannot tell which field their history is keyed by: set "
            "record_key_field on it",
            obj=SectionAdmin,
            id="adminflow.E008",
        )
    ]
    assert check(SectionByCodeAdmin, Section) == []


def test_a_key_field_the_model_lacks_is_reported_by_name():
    assert [(error.id, error.msg) for error in check(SectionByMistakeAdmin, Section)] == [
        (
            "adminflow.E008",
            "SectionByMistakeAdmin: record_key_field 'room' is not a field of course.Section",
        )
    ]


@pytest.fixture
def students_by_pk() -> Iterator[None]:
    """Register a second storer of students, keyed by primary key, for specs to name."""
    step_registry.register(StudentsByPk)
    try:
        yield
    finally:
        step_registry.unregister("StudentsByPk")


def test_storers_that_key_a_model_differently_are_named_and_the_admin_must_choose(
    students_by_pk,
):
    errors = check(StudentAdmin, Student)

    assert [(error.id, error.obj) for error in errors] == [("adminflow.E008", StudentAdmin)]
    assert errors[0].msg == (
        "StudentAdmin: the registered storers of course.Student key its records by different "
        "fields (netid by Roster; id by StudentsByPk): set record_key_field on it to "
        "the one to show"
    )
    with pytest.raises(ImproperlyConfigured, match="key its records by different fields"):
        StudentAdmin(Student, admin.site).get_record_key_field()


@pytest.mark.urls(__name__)
def test_a_declared_key_field_keys_the_history_on_a_site_of_its_own():
    section = SectionFactory(code="S01")
    flow_run = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    for key in ("S01", str(section.pk)):
        RecordChange.objects.create(
            run=flow_run, collection="course.Section", key=key, action="changed"
        )
    CourseStudentFactory(section=section)
    client: Client = client_for("course.view_section", "adminflow.view_recordchange")

    response = client.get(reverse("sections:course_section_change", args=[section.pk]))

    history = response.context["record_history"]
    assert [entry.change.key for entry in history.entries] == ["S01"]
    # This site shows neither runs nor record changes: the run is text, and nothing links there.
    assert f"<td>{flow_run}</td>" in response.content.decode()
    assert history.url is None
