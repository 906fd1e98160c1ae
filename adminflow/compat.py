"""Version guards, all in one place: each says when it can go.

The rest of adminflow imports what differs between the supported Django lines
from here, never from ``django.VERSION`` checks of its own.
"""

from __future__ import annotations

import django
from django.core.exceptions import ImproperlyConfigured

__all__ = ["TASKS_MODULE", "TaskResultStatus", "task", "task_backends"]

# Django's Tasks framework: built in from Django 6.0 (django.tasks), the
# django-tasks backport (django_tasks) on Django 5.2. The two have the same API
# under different module names. Drop the backport branch, and django-tasks from
# pyproject.toml, with Django 5.2 support. TASKS_MODULE names the package whose
# ``backends`` hold the built-in backends (immediate, dummy), for settings that
# name one by dotted path.
if django.VERSION >= (6, 0):
    from django.tasks import TaskResultStatus, task, task_backends

    TASKS_MODULE = "django.tasks"
else:
    try:
        from django_tasks import (  # type: ignore[no-redef,assignment]  # the same API, another module
            TaskResultStatus,
            task,
            task_backends,
        )
    except ImportError as exc:
        raise ImproperlyConfigured(
            "adminflow runs flows in the background through Django's Tasks framework, "
            f"which Django {django.get_version()} does not include: install the backport "
            "with `pip install 'django-tasks>=0.12'` and add 'django_tasks' to "
            f"INSTALLED_APPS, or upgrade to Django 6 ({exc})"
        ) from exc

    TASKS_MODULE = "django_tasks"
