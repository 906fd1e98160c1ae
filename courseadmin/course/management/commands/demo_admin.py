"""``manage.py demo_admin``: the demo's superuser, with a new password each time.

The password is generated, never a default anyone could guess, and printed
alone on stdout, so ``demo.sh`` can show it. Running the command again gives
the same user a new password: a forgotten one is never a dead end.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Create a superuser (or give the existing one a new password) with a freshly "
        "generated password, and print the password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--username", default="admin", help="The user's name (default: %(default)s)."
        )

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user_model = get_user_model()
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user, _ = user_model._default_manager.get_or_create(
                **{user_model.USERNAME_FIELD: username}
            )
            user.is_active = user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
        self.stdout.write(password)
