"""``manage.py migrate``: Django's, except that stored configs do not stop it.

Django's ``migrate`` runs the system checks, database checks included, and
stops on any error. A stored config that a code change made invalid
(``adminflow.E004``) is wrong data, not a wrong schema, and a data migration
may be what fixes it: so this command, which takes the place of Django's
(apps' commands come before Django's own), runs the checks without it.
``manage.py check --database default`` still reports it. (A site that
lists another app with a ``migrate`` command before adminflow gets that one.)
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from adminflow.checks import stored_configs_spared


class Command(migrate.Command):
    """Django's ``migrate``, its checks run with stored configs spared."""

    def check(self, *args: Any, **kwargs: Any) -> None:
        with stored_configs_spared():
            super().check(*args, **kwargs)
