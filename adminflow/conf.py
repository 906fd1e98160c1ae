"""adminflow's settings: one ``ADMINFLOW`` dict, read lazily, with defaults.

Read at use, never at import, and re-read when tests change settings, so a
host site can set ``ADMINFLOW`` anywhere in its settings module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Seconds between a running run's heartbeats.
    "HEARTBEAT_INTERVAL": 5.0,
    # Seconds without a heartbeat after which a run counts as lost: a running one, or a
    # queued one that a worker (or runflow) took and died holding before it started it.
    "STALE_AFTER": 60.0,
    # Seconds a queued run may wait for a worker to take it before it counts as lost (its
    # task was lost, or no worker runs). Raise it where runs wait longer behind others.
    "QUEUED_TIMEOUT": 1800.0,
    # Seconds since a task worker was last seen (taking a run, or heartbeating one) within
    # which it counts as alive; enqueueing with none seen warns. An idle worker is not
    # seen, so this is longer than the gaps between runs on a site with flows on
    # schedules (minutes to an hour), lest a quiet but healthy worker be reported missing.
    "WORKER_SEEN_WITHIN": 3600.0,
    # Log lines are written in batches of at most this many rows...
    "LOG_BATCH_SIZE": 500,
    # ...or after this many seconds, whichever comes first.
    "LOG_FLUSH_INTERVAL": 1.0,
    # Longer log lines, errors and tracebacks are cut, with a marker saying how much was dropped.
    "MAX_LOG_LINE_LENGTH": 10_000,
    # Lines past this many in one run are counted, not stored.
    "MAX_LOG_LINES_PER_RUN": 200_000,
    # Rows per INSERT/UPSERT statement when storing records.
    "STORE_BATCH_SIZE": 1_000,
    # The Tasks backend alias and queue that background runs are sent to.
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
    # Their priority (-100..100, higher first), set only where the backend supports one.
    "TASK_PRIORITY": 0,
    # The site's address (https://course.example.edu), so notification emails can
    # link to a run's admin page; without it they give the page's path only.
    "SITE_URL": "",
    # The namespace of the admin site whose run pages notifications link to.
    "ADMIN_SITE": "admin",
    # The sender of notification emails; blank means DEFAULT_FROM_EMAIL.
    "NOTIFY_FROM_EMAIL": "",
    # Where files uploaded for one run ("Run with options") are saved, one folder a run;
    # blank: "adminflow-run-uploads" under MEDIA_ROOT (else the working directory). The
    # run's worker reads them there, so on several machines it must be a shared folder.
    "RUN_UPLOADS_DIR": "",
    # flowscheduler sleeps until the next scheduled time, but at most this many
    # seconds, so that it notices schedules edited meanwhile.
    "SCHEDULER_MAX_SLEEP": 60.0,
    # Seconds a plan stays open for approval and apply after it was made (24 hours).
    "PLAN_EXPIRES_AFTER": 86_400.0,
}


class AdminflowSettings:
    """Attribute access to ``settings.ADMINFLOW`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        """Return ``settings.ADMINFLOW``; raise ImproperlyConfigured if it is not a dict."""
        value = getattr(settings, "ADMINFLOW", None) or {}
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(
                f"settings.ADMINFLOW must be a dict, got {type(value).__name__}"
            )
        return dict(value)

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"'{name}' is not an ADMINFLOW setting")
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache[name]

    def reload(self) -> None:
        self._cache = None


adminflow_settings = AdminflowSettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "ADMINFLOW":
        adminflow_settings.reload()
