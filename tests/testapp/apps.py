from __future__ import annotations

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """The test suite's own app: its ``steps`` and ``flows`` modules are autodiscovered."""

    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"
