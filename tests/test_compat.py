"""adminflow.compat: the Tasks framework on each supported Django line, or a clear error."""

from __future__ import annotations

import importlib
import sys

import django
import pytest
from django.core.exceptions import ImproperlyConfigured

from adminflow.compat import TASKS_MODULE, task, task_backends


def test_the_tasks_framework_comes_from_django_6_or_the_backport_on_5_2():
    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"

    assert expected == TASKS_MODULE
    assert task.__module__ == f"{expected}.base"
    assert type(task_backends).__module__ == expected


@pytest.mark.skipif(django.VERSION >= (6, 0), reason="Django 6 has the Tasks framework built in")
def test_without_the_backport_on_django_5_2_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "django_tasks", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "adminflow.compat")

    with pytest.raises(ImproperlyConfigured) as refused:
        importlib.import_module("adminflow.compat")

    assert str(refused.value).startswith(
        "adminflow runs flows in the background through Django's Tasks framework, which "
        f"Django {django.get_version()} does not include: install the backport with "
        "`pip install 'django-tasks>=0.12'` and add 'django_tasks' to INSTALLED_APPS, "
        "or upgrade to Django 6 ("
    )
