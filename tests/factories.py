"""factory-boy factories for the test suite's models."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Permission
from django.utils import timezone
from factory.django import DjangoModelFactory

from adminflow.models import Flow, FlowRun, StepRun
from adminflow.states import FlowRunStatus, Trigger
from tests.testapp.models import Seat, Student


class FlowFactory(DjangoModelFactory):
    class Meta:
        model = Flow
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"flow-{n}")
    description = "a flow under test"


class FlowRunFactory(DjangoModelFactory):
    """A run in progress: the state a storer writes its RecordChange rows in."""

    class Meta:
        model = FlowRun

    flow = factory.SubFactory(FlowFactory)
    status = FlowRunStatus.RUNNING
    trigger = Trigger.COMMAND


class StudentFactory(DjangoModelFactory):
    class Meta:
        model = Student

    netid = factory.Sequence(lambda n: f"s{n:05d}")
    name = factory.Sequence(lambda n: f"Student {n}")
    email = factory.LazyAttribute(lambda student: f"{student.netid}@example.edu")
    section = "A"


class SeatFactory(DjangoModelFactory):
    """A lab seat with its own code, locker and desk in room R1."""

    class Meta:
        model = Seat

    code = factory.Sequence(lambda n: f"C{n:03d}")
    locker = factory.Sequence(lambda n: n + 1)
    room = "R1"
    desk = factory.Sequence(lambda n: n + 1)
    holder = factory.Sequence(lambda n: f"holder {n}")


class SectionFactory(DjangoModelFactory):
    """A section of the example course (courseadmin.course)."""

    class Meta:
        model = "course.Section"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n + 1:02d}")
    title = factory.LazyAttribute(lambda section: f"Section {section.code}")


class CourseStudentFactory(DjangoModelFactory):
    """A student of the example course, enrolled, with a valid GitHub username."""

    class Meta:
        model = "course.Student"

    netid = factory.Sequence(lambda n: f"cs{n:04d}")
    name = factory.Sequence(lambda n: f"Course Student {n}")
    email = factory.LazyAttribute(lambda student: f"{student.netid}@example.edu")
    section = factory.SubFactory(SectionFactory)
    github_username = factory.LazyAttribute(lambda student: f"gh-{student.netid}")
    github_username_valid = True


class StepRunFactory(DjangoModelFactory):
    """A pending step of a run in progress."""

    class Meta:
        model = StepRun

    run = factory.SubFactory(FlowRunFactory)
    name = factory.Sequence(lambda n: f"step-{n}")
    kind = "update"
    mode = "include"
    position = factory.Sequence(int)


class RunningFlowRunFactory(FlowRunFactory):
    """A run that a worker is executing: started, heartbeating."""

    started_at = factory.LazyFunction(timezone.now)
    heartbeat_at = factory.SelfAttribute("started_at")
    worker = "host:1"


class StaffUserFactory(DjangoModelFactory):
    """A user who may enter the admin; ``permissions=["adminflow.run_flow", ...]`` grants some."""

    class Meta:
        model = "auth.User"
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True

    @factory.post_generation
    def permissions(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        for label in extracted or ():
            app_label, codename = label.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
