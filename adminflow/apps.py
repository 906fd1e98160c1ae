from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SimpleAdminflowConfig(AppConfig):
    """adminflow without autodiscovery: the site registers steps and flows itself."""

    name = "adminflow"
    verbose_name = _("Admin flows")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .models import FlowRun
        from .notifications import notify_run_finished
        from .runs.config import sync_flow_rows
        from .signals import flow_run_finished

        post_migrate.connect(sync_flow_rows, sender=self)
        flow_run_finished.connect(
            notify_run_finished, sender=FlowRun, dispatch_uid="adminflow.notifications"
        )


class AdminflowConfig(SimpleAdminflowConfig):
    """The default: find ``steps`` and ``flows`` modules in every installed app."""

    default = True

    def ready(self) -> None:
        super().ready()
        from .registry import autodiscover

        autodiscover()
