from __future__ import annotations

from django.apps import AppConfig


class CourseConfig(AppConfig):
    """The example course: sections, students and project groups, kept by adminflow flows."""

    name = "courseadmin.course"
    label = "course"
    verbose_name = "Course"
    default_auto_field = "django.db.models.BigAutoField"
